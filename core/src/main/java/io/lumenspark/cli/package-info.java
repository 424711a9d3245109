/**
 * The {@code lumenspark} command line: one thin picocli class per command, over the library's packages; option
 * groups that several commands take are mixins (*Options, {@link io.lumenspark.cli.ModelOption}), so each is
 * declared once. Bad input ends in one line on stderr starting with {@code error:} and exit code 2.
 */
package io.lumenspark.cli;
