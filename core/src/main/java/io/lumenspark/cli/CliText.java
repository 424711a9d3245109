package io.lumenspark.cli;

import io.lumenspark.Words;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Help.ColorScheme;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.TypeConversionException;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What the command line says in words of its own rather than picocli's: the converters of every option's type (one
 * rule per type for all commands: an empty path is refused, a number is a number as people write it), the one-line
 * messages for bad command lines ({@code --steps must be a whole number, got 'abc'}, {@code missing --model DIR}),
 * and help whose lines break only between words, never inside a file name such as {@code manifest.json}.
 */
final class CliText {
    private static final Pattern DECIMAL = Pattern.compile("[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?");
    private static final Pattern WHOLE = Pattern.compile("[+-]?[0-9]+");
    /** Stands for a '.' inside a word while help is wrapped, so that the line is not broken there. */
    private static final char DOT = '\u00fe';
    private static final Pattern DOT_IN_WORD = Pattern.compile("\\.(?=\\w)");
    private static final String EMPTY_PATH = "is empty (an empty path would mean the current folder; did a $(...)"
            + " fail?)";

    private CliText() {
    }

    /** Registers the converters and the help factory on the command and all its subcommands. */
    static void install(CommandLine cli) {
        cli.registerConverter(Path.class, CliText::path);
        cli.registerConverter(ModelName.class, CliText::modelName); // every model option: a folder or a hub id
        cli.registerConverter(Integer.class, s -> (int) whole(s, Integer.MIN_VALUE, Integer.MAX_VALUE));
        cli.registerConverter(int.class, s -> (int) whole(s, Integer.MIN_VALUE, Integer.MAX_VALUE));
        cli.registerConverter(Long.class, s -> whole(s, Long.MIN_VALUE, Long.MAX_VALUE));
        cli.registerConverter(long.class, s -> whole(s, Long.MIN_VALUE, Long.MAX_VALUE));
        cli.registerConverter(Double.class, CliText::decimal);
        cli.registerConverter(double.class, CliText::decimal);
        setHelpFactory(cli);
    }

    private static void setHelpFactory(CommandLine cli) {
        cli.setHelpFactory(WordWrappedHelp::new);
        cli.getSubcommands().values().forEach(CliText::setHelpFactory);
    }

    /**
     * A path as given; never empty, which the file system would take as the current folder (a failed
     * {@code $(...)} in a script, a forgotten value), so that training, evaluation or output would quietly use
     * whatever the current folder holds.
     */
    static Path path(String text) {
        if (text.isEmpty()) throw new TypeConversionException(EMPTY_PATH);
        try {
            return Path.of(text);
        } catch (java.nio.file.InvalidPathException e) {
            throw new TypeConversionException("is not a valid path: '" + text + "' (" + e.getReason() + ")");
        }
    }

    /**
     * The converter of options that take a name or a folder ({@code --tokenizer gpt2|DIR}): the text as given,
     * never empty, which would be read as the current folder, as an empty path is.
     */
    /** A model option's value: a folder or a Hugging Face Hub id, refused when empty as paths are. */
    static ModelName modelName(String text) {
        if (text.isEmpty()) throw new TypeConversionException(EMPTY_PATH);
        return new ModelName(text);
    }

    static final class NameOrFolder implements CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String text) {
            if (text.isEmpty()) throw new TypeConversionException(EMPTY_PATH);
            return text;
        }
    }

    private static long whole(String text, long min, long max) {
        String t = text.strip();
        if (!WHOLE.matcher(t).matches()) {
            throw new TypeConversionException("must be a whole number, got '" + text + "'");
        }
        boolean negative = t.startsWith("-");
        try {
            long v = Long.parseLong(t);
            if (v >= min && v <= max) return v;
            negative = v < min;
        } catch (NumberFormatException tooLong) {
            // beyond a long: out of range as well
        }
        throw new TypeConversionException(negative ? String.format("must be at least %,d, got '%s'", min, text)
                : String.format("must be at most %,d, got '%s'", max, text));
    }

    private static double decimal(String text) {
        String t = text.strip();
        if (!DECIMAL.matcher(t).matches()) throw new TypeConversionException("must be a number, got '" + text + "'");
        double v = Double.parseDouble(t);
        if (Double.isInfinite(v)) throw new TypeConversionException("is too large: '" + text + "'");
        return v;
    }

    /** A bad command line as one line: what is wrong, in the words of the option list, lower case. */
    static String message(ParameterException e) {
        CommandLine line = e.getCommandLine();
        CommandSpec spec = line.getCommandSpec();
        String m = e.getMessage() == null ? "" : e.getMessage();
        if (e.getCause() instanceof TypeConversionException t && e.getArgSpec() != null) {
            return name(e.getArgSpec()) + " " + t.getMessage();
        }
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String typed = u.getUnmatched().getFirst();
            var commands = line.getSubcommands().keySet();
            if (!typed.startsWith("-") && !commands.isEmpty()) {
                String near = Words.nearest(typed, commands);
                return "unknown command '" + typed + "'" + (near == null ? "" : " (did you mean '" + near + "'?)")
                        + "; the commands are " + String.join(", ", commands);
            }
            if (typed.startsWith("-")) return unknownOption(typed, spec);
            return "unexpected argument '" + typed + "'";
        }
        if (e instanceof CommandLine.MissingParameterException missing) {
            // a misspelt required option is missing because it is unknown: the unknown one is the news
            for (String typed : line.getUnmatchedArguments()) {
                if (typed.startsWith("-")) return unknownOption(typed, spec);
            }
            List<ArgSpec> specs = missing.getMissing();
            if (m.startsWith("Missing required parameter for option") && specs.size() == 1
                    && specs.getFirst() instanceof OptionSpec o) {
                return o.longestName() + " needs a value (" + o.paramLabel() + ")";
            }
            String list = specs.stream().map(CliText::usage).collect(Collectors.joining(specs.size() == 2 ? " and "
                    : ", "));
            if (m.contains("specify one of these")) {
                return "give one of " + specs.stream().map(CliText::usage).collect(Collectors.joining(", "));
            }
            return "missing " + list;
        }
        if (e instanceof CommandLine.MutuallyExclusiveArgsException) {
            List<String> names = Pattern.compile("(--[A-Za-z0-9-]+)").matcher(m).results().map(r -> r.group(1))
                    .distinct().toList();
            if (names.size() >= 2) return String.join(" and ", names) + " cannot be used together";
        }
        Matcher keyValue = Pattern.compile("should be in KEY=VALUE format but was (.*)$").matcher(m);
        if (keyValue.find() && e.getArgSpec() != null) {
            return name(e.getArgSpec()) + " must be KEY=VALUE, got '" + keyValue.group(1) + "'";
        }
        return plain(m);
    }

    /** "unknown option '--tekst' (did you mean '--text'?)" for {@code typed} (with any "=value" dropped). */
    private static String unknownOption(String typed, CommandSpec spec) {
        String option = typed.contains("=") ? typed.substring(0, typed.indexOf('=')) : typed;
        String near = Words.nearest(option, spec.optionsMap().keySet());
        return "unknown option '" + option + "'" + (near == null ? "" : " (did you mean '" + near + "'?)");
    }

    /** picocli's wording made ours: no "Error: ", option names as typed, lower case first. */
    private static String plain(String m) {
        String t = m.startsWith("Error: ") ? m.substring("Error: ".length()) : m;
        t = t.replaceAll("option '(--?[A-Za-z0-9-]+)'( \\([^)]*\\))?", "$1")
                .replaceAll("'(--?[A-Za-z0-9-]+)=([^']*)'", "$1 $2");
        return t.isEmpty() ? t : t.substring(0, 1).toLowerCase(Locale.ROOT) + t.substring(1);
    }

    /** An option by its longest name, a positional parameter by its label. */
    private static String name(ArgSpec arg) {
        return arg instanceof OptionSpec o ? o.longestName() : arg.paramLabel();
    }

    /** How an argument is written: {@code --model DIR}, {@code --json}, {@code INPUT}. */
    private static String usage(ArgSpec arg) {
        if (arg instanceof PositionalParamSpec) return arg.paramLabel();
        OptionSpec o = (OptionSpec) arg;
        return o.typeInfo().isBoolean() ? o.longestName() : o.longestName() + " " + o.paramLabel();
    }

    /**
     * picocli's help, with the lines of descriptions broken only between words: its line breaking (Java's line
     * BreakIterator) breaks after a '.' inside a word, splitting file names ({@code manifest.} / {@code json}).
     */
    static final class WordWrappedHelp extends Help {
        WordWrappedHelp(CommandSpec spec, ColorScheme colorScheme) {
            super(spec, colorScheme);
        }

        @Override
        public Layout createDefaultLayout(List<OptionSpec> options, List<PositionalParamSpec> positionals,
                                          ColorScheme scheme) {
            Layout layout = super.createDefaultLayout(options, positionals, scheme);
            TextTable table = new DotSafeTable(scheme, layout.textTable().columns());
            table.indentWrappedLines = layout.textTable().indentWrappedLines;
            return new Layout(scheme, table, layout.optionRenderer(), layout.parameterRenderer());
        }

        @Override
        public String description(Object... params) {
            String[] lines = commandSpec().usageMessage().description();
            if (lines.length == 0) return "";
            int width = commandSpec().usageMessage().width();
            TextTable table = new DotSafeTable(colorScheme(), new Column(width, 0, Column.Overflow.WRAP));
            table.indentWrappedLines = 0;
            for (String line : lines) table.addRowValues(String.format(line, params));
            return table.toString();
        }
    }

    /** A text table that keeps dots inside words: they are stood in for while lines are broken, then put back. */
    static final class DotSafeTable extends Help.TextTable {
        private final ColorScheme scheme;

        DotSafeTable(ColorScheme scheme, Help.Column... columns) {
            super(scheme, columns);
            this.scheme = scheme;
        }

        @Override
        public Cell putValue(int row, int col, Text value) {
            String plain = value.plainString();
            if (!DOT_IN_WORD.matcher(plain).find()) return super.putValue(row, col, value);
            return super.putValue(row, col, scheme.text(DOT_IN_WORD.matcher(plain).replaceAll(String.valueOf(DOT))));
        }

        @Override
        public StringBuilder toString(StringBuilder text) {
            int from = text.length();
            super.toString(text);
            for (int i = from; i < text.length(); i++) {
                if (text.charAt(i) == DOT) text.setCharAt(i, '.');
            }
            return text;
        }
    }
}
