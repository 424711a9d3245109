/**
 * The {@code lumenspark} command line: one picocli class per command. Bad input ends in one line on stderr
 * starting with {@code error:} and exit code 2.
 */
package io.lumenspark.cli;
