package io.lumenspark.serve;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.Json;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A chat template: the Jinja2 text Hugging Face keeps under {@code chat_template} in tokenizer_config.json, which
 * turns a list of messages into a prompt. This is a small interpreter of the part of Jinja that chat templates use,
 * with Hugging Face's settings (trim_blocks, lstrip_blocks): text, {@code {{ expr }}}, {@code {# comments #}},
 * whitespace control ({@code {%-}, {@code -%}}), {@code for} (with {@code loop.index0}, {@code index},
 * {@code first}, {@code last}, {@code length}; an {@code else} branch), {@code if}/{@code elif}/{@code else},
 * {@code set}; expressions with string, number, boolean and none literals, lists, names, {@code x.key},
 * {@code x['key']}, indexes and slices, {@code + - * / // % ~}, comparisons, {@code in}, {@code not in},
 * {@code and}, {@code or}, {@code not}, {@code a if c else b}, the tests {@code is defined / none / string / number
 * / mapping / sequence / iterable / true / false} (and {@code is not}), the filters {@code trim, length, upper,
 * lower, capitalize, title, string, tojson, first, last, default, join, list, reverse} and the string methods
 * {@code strip, lstrip, rstrip, upper, lower, title, capitalize, startswith, endswith, split, replace}, and
 * {@code raise_exception(message)}. Anything else (macros, includes, imports, blocks, calls of other functions)
 * is refused when the template is read, naming the construct and its line. A template can read only the values it
 * is given; it cannot reach files, Java objects or code, and its output is capped.
 */
public final class ChatTemplate {
    /** The most characters one rendering may produce (a runaway template is stopped, not left to fill memory). */
    static final int MAX_OUTPUT = 4 << 20;

    /**
     * The template a model folder without one gets: a system message first as plain text, then each message as
     * {@code role: content} on its own line, and {@code assistant:} to generate from.
     */
    public static final String DEFAULT = "{% for message in messages %}{% if message['role'] == 'system' %}"
            + "{{ message['content'] + '\\n\\n' }}{% else %}{{ message['role'] + ': ' + message['content'] + '\\n' }}"
            + "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    private final List<Node> body;

    private ChatTemplate(List<Node> body) {
        this.body = body;
    }

    /**
     * Parses a template.
     *
     * @throws LumensparkException for a syntax error or a construct outside the supported subset, with its line
     */
    public static ChatTemplate parse(String source) {
        Parser p = new Parser(lex(source));
        List<Node> body = p.block(Set.of());
        if (!p.atEnd()) throw p.error("unexpected {% " + p.peekTag() + " %}");
        return new ChatTemplate(body);
    }

    /**
     * Renders the template with these variables (messages, add_generation_prompt, bos_token, eos_token, ...):
     * JSON-like values (String, Number, Boolean, null, List, Map).
     *
     * @throws LumensparkException for raise_exception, a type error, or an output over {@link #MAX_OUTPUT}
     */
    public String render(Map<String, Object> variables) {
        Scope scope = new Scope(null);
        scope.vars.putAll(variables);
        StringBuilder out = new StringBuilder();
        for (Node n : body) n.run(scope, out);
        return out.toString();
    }

    // ---- lexing: text and tags, with whitespace control and Hugging Face's trim_blocks / lstrip_blocks ----

    private enum Kind { TEXT, OUTPUT, STATEMENT }

    private record Piece(Kind kind, String text, int line) {
    }

    private static List<Piece> lex(String s) {
        List<Piece> out = new ArrayList<>();
        int i = 0, line = 1;
        boolean trimNext = false; // "-%}" or "-}}" before this text, or trim_blocks after a block tag
        boolean blockBefore = false;
        while (i < s.length()) {
            int open = nextTag(s, i);
            String text = s.substring(i, open < 0 ? s.length() : open);
            if (blockBefore && text.startsWith("\n")) text = text.substring(1); // trim_blocks
            else if (blockBefore && text.startsWith("\r\n")) text = text.substring(2);
            if (trimNext) text = text.stripLeading();
            if (open < 0) {
                if (!text.isEmpty()) out.add(new Piece(Kind.TEXT, text, line));
                break;
            }
            char type = s.charAt(open + 1);
            boolean minusLeft = open + 2 < s.length() && s.charAt(open + 2) == '-';
            if (minusLeft) {
                text = text.stripTrailing();
            } else if (type != '{') { // lstrip_blocks: spaces and tabs from the line's start to a block tag
                int j = text.length();
                while (j > 0 && (text.charAt(j - 1) == ' ' || text.charAt(j - 1) == '\t')) j--;
                if (j == 0 ? out.isEmpty() || endsLine(out) : text.charAt(j - 1) == '\n') text = text.substring(0, j);
            }
            if (!text.isEmpty()) out.add(new Piece(Kind.TEXT, text, line));
            line += count(s, i, open);
            String close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
            int end = s.indexOf(close, open + 2);
            if (end < 0) throw new LumensparkException("chat_template: line " + line + ": a tag is not closed ("
                    + close + " missing)");
            boolean minusRight = end > open + 2 && s.charAt(end - 1) == '-';
            String inner = s.substring(open + 2 + (minusLeft ? 1 : 0), end - (minusRight ? 1 : 0)).strip();
            if (type == '{') out.add(new Piece(Kind.OUTPUT, inner, line));
            else if (type == '%') out.add(new Piece(Kind.STATEMENT, inner, line));
            trimNext = minusRight;
            blockBefore = type != '{';
            line += count(s, open, end);
            i = end + 2;
        }
        return out;
    }

    private static boolean endsLine(List<Piece> out) {
        Piece last = out.getLast();
        return last.kind() == Kind.TEXT && last.text().endsWith("\n");
    }

    /** The next "{{", "{%" or "{#" from i, or -1. */
    private static int nextTag(String s, int i) {
        for (int j = s.indexOf('{', i); j >= 0 && j + 1 < s.length(); j = s.indexOf('{', j + 1)) {
            char c = s.charAt(j + 1);
            if (c == '{' || c == '%' || c == '#') return j;
        }
        return -1;
    }

    private static int count(String s, int from, int to) {
        int n = 0;
        for (int k = from; k < to; k++) if (s.charAt(k) == '\n') n++;
        return n;
    }

    // ---- the tree ----

    private interface Node {
        void run(Scope scope, StringBuilder out);
    }

    private interface Expr {
        Object eval(Scope scope);
    }

    private static final Object UNDEFINED = new Object() {
        @Override
        public String toString() {
            return "";
        }
    };

    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) if (s.vars.containsKey(name)) return s.vars.get(name);
            return UNDEFINED;
        }
    }

    private static void emit(StringBuilder out, String s) {
        if (out.length() + (long) s.length() > MAX_OUTPUT) {
            throw new LumensparkException("the chat template's output is over " + MAX_OUTPUT + " characters");
        }
        out.append(s);
    }

    // ---- parsing statements ----

    private static final class Parser {
        private final List<Piece> pieces;
        private int at;

        Parser(List<Piece> pieces) {
            this.pieces = pieces;
        }

        boolean atEnd() {
            return at >= pieces.size();
        }

        String peekTag() {
            return pieces.get(at).text();
        }

        LumensparkException error(String what) {
            int line = at < pieces.size() ? pieces.get(at).line() : pieces.isEmpty() ? 1 : pieces.getLast().line();
            return new LumensparkException("chat_template: line " + line + ": " + what);
        }

        /** Nodes until a statement whose first word is in ends (left unconsumed), or the end. */
        List<Node> block(Set<String> ends) {
            List<Node> nodes = new ArrayList<>();
            while (!atEnd()) {
                Piece p = pieces.get(at);
                switch (p.kind()) {
                    case TEXT -> {
                        at++;
                        String t = p.text();
                        nodes.add((scope, out) -> emit(out, t));
                    }
                    case OUTPUT -> {
                        at++;
                        Expr e = expression(p.text(), p.line());
                        nodes.add((scope, out) -> emit(out, str(e.eval(scope))));
                    }
                    case STATEMENT -> {
                        String word = firstWord(p.text());
                        if (ends.contains(word)) return nodes;
                        at++;
                        nodes.add(statement(word, p));
                    }
                }
            }
            if (!ends.isEmpty()) throw error("{% " + String.join(" / ", ends) + " %} missing");
            return nodes;
        }

        private static String firstWord(String s) {
            int i = 0;
            while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) i++;
            return s.substring(0, i);
        }

        private Node statement(String word, Piece p) {
            String rest = p.text().substring(word.length()).strip();
            return switch (word) {
                case "if" -> ifNode(rest, p.line());
                case "for" -> forNode(rest, p.line());
                case "set" -> setNode(rest, p.line());
                default -> {
                    at--;
                    throw error("{% " + (word.isEmpty() ? p.text() : word) + " %} is not supported by this server's"
                            + " chat templates (supported: for, if, set)");
                }
            };
        }

        private Node ifNode(String condition, int line) {
            List<Expr> conditions = new ArrayList<>();
            List<List<Node>> branches = new ArrayList<>();
            conditions.add(expression(condition, line));
            branches.add(block(Set.of("elif", "else", "endif")));
            List<Node> otherwise = List.of();
            while (true) {
                Piece p = pieces.get(at++);
                String word = firstWord(p.text());
                if (word.equals("elif")) {
                    conditions.add(expression(p.text().substring(4).strip(), p.line()));
                    branches.add(block(Set.of("elif", "else", "endif")));
                } else if (word.equals("else")) {
                    otherwise = block(Set.of("endif"));
                } else {
                    break; // endif
                }
            }
            List<Node> elseBranch = otherwise;
            return (scope, out) -> {
                for (int i = 0; i < conditions.size(); i++) {
                    if (truthy(conditions.get(i).eval(scope))) {
                        for (Node n : branches.get(i)) n.run(scope, out);
                        return;
                    }
                }
                for (Node n : elseBranch) n.run(scope, out);
            };
        }

        private Node forNode(String header, int line) {
            Lexer lx = new Lexer(header, line);
            List<String> targets = new ArrayList<>();
            targets.add(lx.name());
            while (lx.accept(",")) targets.add(lx.name());
            if (!lx.acceptWord("in")) throw lx.error("expected 'in' in a for loop");
            Expr iterable = new ExprParser(lx).ternaryNoIf();
            Expr filter = lx.acceptWord("if") ? new ExprParser(lx).ternaryNoIf() : null;
            if (lx.acceptWord("recursive")) throw lx.error("recursive loops are not supported");
            lx.end();
            List<Node> body = block(Set.of("else", "endfor"));
            List<Node> empty = List.of();
            if (firstWord(pieces.get(at++).text()).equals("else")) {
                empty = block(Set.of("endfor"));
                at++;
            }
            List<Node> whenEmpty = empty;
            return (scope, out) -> {
                List<Object> items = new ArrayList<>();
                for (Object item : iterate(iterable.eval(scope), line)) {
                    if (filter != null) {
                        Scope s = new Scope(scope);
                        bind(s, targets, item, line);
                        if (!truthy(filter.eval(s))) continue;
                    }
                    items.add(item);
                }
                if (items.isEmpty()) {
                    for (Node n : whenEmpty) n.run(scope, out);
                    return;
                }
                for (int i = 0; i < items.size(); i++) {
                    Scope s = new Scope(scope);
                    bind(s, targets, items.get(i), line);
                    Map<String, Object> loop = new HashMap<>();
                    loop.put("index0", (long) i);
                    loop.put("index", (long) i + 1);
                    loop.put("revindex0", (long) (items.size() - 1 - i));
                    loop.put("revindex", (long) (items.size() - i));
                    loop.put("first", i == 0);
                    loop.put("last", i == items.size() - 1);
                    loop.put("length", (long) items.size());
                    loop.put("previtem", i > 0 ? items.get(i - 1) : UNDEFINED);
                    loop.put("nextitem", i + 1 < items.size() ? items.get(i + 1) : UNDEFINED);
                    s.vars.put("loop", loop);
                    for (Node n : body) n.run(s, out);
                }
            };
        }

        private static void bind(Scope s, List<String> targets, Object item, int line) {
            if (targets.size() == 1) {
                s.vars.put(targets.getFirst(), item);
                return;
            }
            List<Object> parts = iterate(item, line);
            if (parts.size() != targets.size()) {
                throw new LumensparkException("chat_template: line " + line + ": cannot unpack " + parts.size()
                        + " values into " + targets.size());
            }
            for (int i = 0; i < parts.size(); i++) s.vars.put(targets.get(i), parts.get(i));
        }

        private Node setNode(String rest, int line) {
            Lexer lx = new Lexer(rest, line);
            String name = lx.name();
            if (lx.accept(".")) throw lx.error("setting attributes (namespace objects) is not supported");
            if (!lx.accept("=")) throw lx.error("block {% set %} ... {% endset %} is not supported");
            Expr value = new ExprParser(lx).expression();
            lx.end();
            return (scope, out) -> scope.vars.put(name, value.eval(scope));
        }

        private Expr expression(String text, int line) {
            Lexer lx = new Lexer(text, line);
            Expr e = new ExprParser(lx).expression();
            lx.end();
            return e;
        }
    }

    // ---- expressions ----

    private static final class Lexer {
        private final String s;
        private final int line;
        private int i;

        Lexer(String s, int line) {
            this.s = s;
            this.line = line;
        }

        LumensparkException error(String what) {
            return new LumensparkException("chat_template: line " + line + ": " + what + " in \"" + s + "\"");
        }

        private void skip() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }

        boolean more() {
            skip();
            return i < s.length();
        }

        void end() {
            if (more()) throw error("unexpected '" + s.substring(i) + "'");
        }

        boolean accept(String op) {
            skip();
            if (!s.startsWith(op, i)) return false;
            // "=" must not take the first char of "==", "*" of "**", "/" of "//"
            if ((op.equals("=") || op.equals("<") || op.equals(">") || op.equals("!")) && s.startsWith("=", i + 1)) {
                return false;
            }
            if ((op.equals("*") || op.equals("/")) && s.startsWith(op, i + 1)) return false;
            i += op.length();
            return true;
        }

        boolean peekWord(String w) {
            skip();
            int j = i;
            while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
            return s.substring(i, j).equals(w);
        }

        boolean acceptWord(String w) {
            if (!peekWord(w)) return false;
            i += w.length();
            return true;
        }

        boolean peekName() {
            skip();
            return i < s.length() && (Character.isLetter(s.charAt(i)) || s.charAt(i) == '_');
        }

        String name() {
            if (!peekName()) throw error("expected a name");
            int j = i;
            while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
            String n = s.substring(i, j);
            i = j;
            return n;
        }

        boolean peekString() {
            skip();
            return i < s.length() && (s.charAt(i) == '\'' || s.charAt(i) == '"');
        }

        String string() {
            char q = s.charAt(i++);
            StringBuilder b = new StringBuilder();
            while (i < s.length() && s.charAt(i) != q) {
                char c = s.charAt(i++);
                if (c != '\\' || i >= s.length()) {
                    b.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n');
                    case 't' -> b.append('\t');
                    case 'r' -> b.append('\r');
                    case '\\', '\'', '"' -> b.append(e);
                    case 'u' -> {
                        if (i + 4 > s.length()) throw error("a bad \\u escape");
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> b.append('\\').append(e);
                }
            }
            if (i >= s.length()) throw error("a string is not closed");
            i++;
            return b.toString();
        }

        boolean peekClose() {
            skip();
            return i < s.length() && s.charAt(i) == ']';
        }

        boolean peekNumber() {
            skip();
            return i < s.length() && Character.isDigit(s.charAt(i));
        }

        Object number() {
            int j = i;
            while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
            boolean real = j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1));
            if (real) {
                j++;
                while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
            }
            String text = s.substring(i, j).replace("_", "");
            i = j;
            try {
                return real ? (Object) Double.parseDouble(text) : (Object) Long.parseLong(text);
            } catch (NumberFormatException e) {
                throw error("a bad number " + text);
            }
        }
    }

    private static final Set<String> FILTERS = Set.of("trim", "length", "count", "upper", "lower", "capitalize",
            "title", "string", "tojson", "first", "last", "default", "d", "join", "list", "reverse", "safe");
    private static final Set<String> METHODS = Set.of("strip", "lstrip", "rstrip", "upper", "lower", "title",
            "capitalize", "startswith", "endswith", "split", "replace", "get", "items", "keys", "values");
    private static final Set<String> TESTS = Set.of("defined", "undefined", "none", "string", "number", "integer",
            "float", "mapping", "sequence", "iterable", "true", "false", "boolean", "odd", "even");

    private static final class ExprParser {
        private final Lexer lx;

        ExprParser(Lexer lx) {
            this.lx = lx;
        }

        Expr expression() {
            Expr e = ternaryNoIf();
            if (lx.acceptWord("if")) {
                Expr cond = or();
                Expr otherwise = lx.acceptWord("else") ? expression() : scope -> UNDEFINED;
                Expr then = e;
                return scope -> truthy(cond.eval(scope)) ? then.eval(scope) : otherwise.eval(scope);
            }
            return e;
        }

        /** An expression without a trailing "if ... else" (a for loop's iterable, whose "if" filters). */
        Expr ternaryNoIf() {
            return or();
        }

        private Expr or() {
            Expr left = and();
            while (lx.acceptWord("or")) {
                Expr l = left, r = and();
                left = scope -> {
                    Object a = l.eval(scope);
                    return truthy(a) ? a : r.eval(scope);
                };
            }
            return left;
        }

        private Expr and() {
            Expr left = not();
            while (lx.acceptWord("and")) {
                Expr l = left, r = not();
                left = scope -> {
                    Object a = l.eval(scope);
                    return truthy(a) ? r.eval(scope) : a;
                };
            }
            return left;
        }

        private Expr not() {
            if (lx.acceptWord("not")) {
                Expr e = not();
                return scope -> !truthy(e.eval(scope));
            }
            return comparison();
        }

        private Expr comparison() {
            Expr left = concat();
            while (true) {
                String op;
                if (lx.accept("==")) op = "==";
                else if (lx.accept("!=")) op = "!=";
                else if (lx.accept("<=")) op = "<=";
                else if (lx.accept(">=")) op = ">=";
                else if (lx.accept("<")) op = "<";
                else if (lx.accept(">")) op = ">";
                else if (lx.acceptWord("in")) op = "in";
                else if (lx.peekWord("not") && notIn()) op = "not in";
                else if (lx.acceptWord("is")) {
                    boolean negate = lx.acceptWord("not");
                    String test = lx.name();
                    if (!TESTS.contains(test)) throw lx.error("the test 'is " + test + "' is not supported");
                    Expr l = left;
                    left = scope -> negate != test(test, l.eval(scope));
                    continue;
                } else return left;
                Expr l = left, r = concat();
                String o = op;
                left = scope -> compare(o, l.eval(scope), r.eval(scope), lx.line);
            }
        }

        /** "not in" (after a comparison's left side); leaves "not" alone otherwise. */
        private boolean notIn() {
            int save = lx.i;
            lx.acceptWord("not");
            if (lx.acceptWord("in")) return true;
            lx.i = save;
            return false;
        }

        private Expr concat() {
            Expr left = additive();
            while (lx.accept("~")) {
                Expr l = left, r = additive();
                left = scope -> str(l.eval(scope)) + str(r.eval(scope));
            }
            return left;
        }

        private Expr additive() {
            Expr left = multiplicative();
            while (true) {
                String op = lx.accept("+") ? "+" : lx.accept("-") ? "-" : null;
                if (op == null) return left;
                Expr l = left, r = multiplicative();
                left = scope -> arithmetic(op, l.eval(scope), r.eval(scope), lx.line);
            }
        }

        private Expr multiplicative() {
            Expr left = unary();
            while (true) {
                String op = lx.accept("//") ? "//" : lx.accept("*") ? "*" : lx.accept("/") ? "/"
                        : lx.accept("%") ? "%" : null;
                if (op == null) return left;
                Expr l = left, r = unary();
                left = scope -> arithmetic(op, l.eval(scope), r.eval(scope), lx.line);
            }
        }

        private Expr unary() {
            if (lx.accept("-")) {
                Expr e = unary();
                return scope -> arithmetic("-", 0L, e.eval(scope), lx.line);
            }
            return filtered();
        }

        private Expr filtered() {
            Expr e = postfix();
            while (lx.accept("|")) {
                String f = lx.name();
                if (!FILTERS.contains(f)) throw lx.error("the filter '" + f + "' is not supported");
                List<Expr> args = lx.accept("(") ? arguments() : List.of();
                Expr in = e;
                e = scope -> filter(f, in.eval(scope), args.stream().map(a -> a.eval(scope)).toList(), lx.line);
            }
            return e;
        }

        private List<Expr> arguments() {
            List<Expr> args = new ArrayList<>();
            if (lx.accept(")")) return args;
            do {
                if (lx.peekName()) { // keyword arguments (e.g. tojson(indent=2)) are refused
                    int save = lx.i;
                    lx.name();
                    boolean keyword = lx.accept("=");
                    lx.i = save;
                    if (keyword) throw lx.error("keyword arguments are not supported");
                }
                args.add(expression());
            } while (lx.accept(","));
            if (!lx.accept(")")) throw lx.error("expected ')'");
            return args;
        }

        private Expr postfix() {
            Expr e = primary();
            while (true) {
                if (lx.accept(".")) {
                    String key = lx.name();
                    if (lx.accept("(")) {
                        if (!METHODS.contains(key)) throw lx.error("the method '" + key + "' is not supported");
                        List<Expr> args = arguments();
                        Expr target = e;
                        e = scope -> method(key, target.eval(scope), args.stream().map(a -> a.eval(scope)).toList(),
                                lx.line);
                    } else {
                        Expr target = e;
                        e = scope -> item(target.eval(scope), key);
                    }
                } else if (lx.accept("[")) {
                    Expr target = e;
                    Expr from = lx.accept(":") ? null : expression();
                    if (from != null && !lx.accept(":")) {
                        if (!lx.accept("]")) throw lx.error("expected ']'");
                        e = scope -> item(target.eval(scope), from.eval(scope));
                        continue;
                    }
                    Expr to = lx.peekClose() ? null : expression();
                    if (lx.accept(":")) throw lx.error("slice steps are not supported");
                    if (!lx.accept("]")) throw lx.error("expected ']'");
                    e = scope -> slice(target.eval(scope), from == null ? null : from.eval(scope),
                            to == null ? null : to.eval(scope), lx.line);
                } else if (lx.accept("(")) {
                    throw lx.error("calling a value is not supported");
                } else {
                    return e;
                }
            }
        }

        private Expr primary() {
            if (lx.accept("(")) {
                Expr e = expression();
                if (!lx.accept(")")) throw lx.error("expected ')'");
                return e;
            }
            if (lx.accept("[")) {
                List<Expr> items = new ArrayList<>();
                if (!lx.accept("]")) {
                    do items.add(expression()); while (lx.accept(","));
                    if (!lx.accept("]")) throw lx.error("expected ']'");
                }
                return scope -> new ArrayList<>(items.stream().map(x -> x.eval(scope)).toList());
            }
            if (lx.peekString()) {
                StringBuilder b = new StringBuilder(lx.string());
                while (lx.peekString()) b.append(lx.string()); // adjacent literals join, as in Python
                String v = b.toString();
                return scope -> v;
            }
            if (lx.peekNumber()) {
                Object v = lx.number();
                return scope -> v;
            }
            if (!lx.peekName()) throw lx.error("expected a value");
            String name = lx.name();
            switch (name) {
                case "true", "True" -> { return scope -> Boolean.TRUE; }
                case "false", "False" -> { return scope -> Boolean.FALSE; }
                case "none", "None" -> { return scope -> null; }
                default -> { }
            }
            if (lx.accept("(")) {
                if (!name.equals("raise_exception")) {
                    throw lx.error("the function '" + name + "' is not supported (only raise_exception)");
                }
                List<Expr> args = arguments();
                return scope -> {
                    throw new LumensparkException("the chat template refused the messages: "
                            + (args.isEmpty() ? "" : str(args.getFirst().eval(scope))));
                };
            }
            return scope -> scope.get(name);
        }
    }

    // ---- values ----

    private static boolean truthy(Object v) {
        if (v == null || v == UNDEFINED) return false;
        if (v instanceof Boolean b) return b;
        if (v instanceof String s) return !s.isEmpty();
        if (v instanceof Long l) return l != 0;
        if (v instanceof Number n) return n.doubleValue() != 0;
        if (v instanceof List<?> l) return !l.isEmpty();
        if (v instanceof Map<?, ?> m) return !m.isEmpty();
        return true;
    }

    /** Jinja's output of a value (Python's str). */
    static String str(Object v) {
        if (v == UNDEFINED) return "";
        if (v == null) return "None";
        if (v instanceof Boolean b) return b ? "True" : "False";
        if (v instanceof Double d) return d == Math.rint(d) && !Double.isInfinite(d) ? String.format("%.1f", d) : d.toString();
        if (v instanceof String s) return s;
        if (v instanceof List<?> l) {
            StringBuilder b = new StringBuilder("[");
            for (int i = 0; i < l.size(); i++) b.append(i > 0 ? ", " : "").append(repr(l.get(i)));
            return b.append(']').toString();
        }
        if (v instanceof Map<?, ?> m) {
            StringBuilder b = new StringBuilder("{");
            int i = 0;
            for (var e : m.entrySet()) b.append(i++ > 0 ? ", " : "").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
            return b.append('}').toString();
        }
        return String.valueOf(v);
    }

    private static String repr(Object v) {
        return v instanceof String s ? "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'" : str(v);
    }

    private static LumensparkException typeError(int line, String what) {
        return new LumensparkException("chat_template: line " + line + ": " + what);
    }

    private static List<Object> iterate(Object v, int line) {
        if (v instanceof List<?> l) return new ArrayList<>(l);
        if (v instanceof Map<?, ?> m) return new ArrayList<>(m.keySet());
        if (v instanceof String s) return new ArrayList<>(s.codePoints().mapToObj(Character::toString).toList());
        if (v == UNDEFINED) return new ArrayList<>();
        throw typeError(line, "cannot loop over " + typeName(v));
    }

    private static String typeName(Object v) {
        if (v == null) return "none";
        if (v == UNDEFINED) return "an undefined value";
        if (v instanceof String) return "a string";
        if (v instanceof Number) return "a number";
        if (v instanceof Boolean) return "a boolean";
        if (v instanceof List) return "a list";
        if (v instanceof Map) return "a mapping";
        return "a value";
    }

    private static Object item(Object target, Object key) {
        if (target instanceof Map<?, ?> m) return m.containsKey(key) ? m.get(key) : UNDEFINED;
        if (key instanceof Long idx) {
            if (target instanceof List<?> l) {
                long i = idx < 0 ? l.size() + idx : idx;
                return i >= 0 && i < l.size() ? l.get((int) i) : UNDEFINED;
            }
            if (target instanceof String s) {
                long i = idx < 0 ? s.length() + idx : idx;
                return i >= 0 && i < s.length() ? String.valueOf(s.charAt((int) i)) : UNDEFINED;
            }
        }
        return UNDEFINED;
    }

    private static Object slice(Object target, Object from, Object to, int line) {
        int size = target instanceof List<?> l ? l.size() : target instanceof String s ? s.length() : -1;
        if (size < 0) throw typeError(line, "cannot slice " + typeName(target));
        int a = bound(from, 0, size, line), b = bound(to, size, size, line);
        if (b < a) b = a;
        return target instanceof List<?> l ? new ArrayList<>(l.subList(a, b)) : ((String) target).substring(a, b);
    }

    private static int bound(Object v, int otherwise, int size, int line) {
        if (v == null) return otherwise;
        if (!(v instanceof Long l)) throw typeError(line, "slice bounds must be integers");
        long i = l < 0 ? size + l : l;
        return (int) Math.max(0, Math.min(size, i));
    }

    private static boolean test(String test, Object v) {
        return switch (test) {
            case "defined" -> v != UNDEFINED;
            case "undefined" -> v == UNDEFINED;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Number;
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "mapping" -> v instanceof Map;
            case "sequence", "iterable" -> v instanceof List || v instanceof String || v instanceof Map;
            case "odd" -> v instanceof Long l && l % 2 != 0;
            case "even" -> v instanceof Long l && l % 2 == 0;
            default -> throw new IllegalStateException(test);
        };
    }

    private static boolean equal(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y && !(a instanceof Boolean) && !(b instanceof Boolean)) {
            return x.doubleValue() == y.doubleValue();
        }
        if (a == UNDEFINED || b == UNDEFINED) return a == b;
        return Objects.equals(a, b);
    }

    private static Object compare(String op, Object a, Object b, int line) {
        switch (op) {
            case "==" -> { return equal(a, b); }
            case "!=" -> { return !equal(a, b); }
            case "in", "not in" -> {
                boolean in;
                if (b instanceof String s && a instanceof String t) in = s.contains(t);
                else if (b instanceof List<?> l) in = l.stream().anyMatch(x -> equal(x, a));
                else if (b instanceof Map<?, ?> m) in = m.containsKey(a);
                else if (b == UNDEFINED) in = false;
                else throw typeError(line, "'in' needs a string, list or mapping, got " + typeName(b));
                return op.equals("in") == in;
            }
            default -> {
                int c;
                if (a instanceof Number x && b instanceof Number y) c = Double.compare(x.doubleValue(), y.doubleValue());
                else if (a instanceof String x && b instanceof String y) c = x.compareTo(y);
                else throw typeError(line, "cannot compare " + typeName(a) + " with " + typeName(b));
                return switch (op) {
                    case "<" -> c < 0;
                    case ">" -> c > 0;
                    case "<=" -> c <= 0;
                    default -> c >= 0;
                };
            }
        }
    }

    private static Object arithmetic(String op, Object a, Object b, int line) {
        if (op.equals("+") && a instanceof String x && b instanceof String y) return x + y;
        if (op.equals("+") && a instanceof List<?> x && b instanceof List<?> y) {
            List<Object> out = new ArrayList<>(x);
            out.addAll(y);
            return out;
        }
        if (op.equals("*") && a instanceof String s && b instanceof Long n) {
            if ((long) s.length() * Math.max(0, n) > MAX_OUTPUT) throw typeError(line, "a string too long");
            return s.repeat((int) Math.max(0, n));
        }
        if (!(a instanceof Number x) || !(b instanceof Number y) || a instanceof Boolean || b instanceof Boolean) {
            throw typeError(line, "cannot apply '" + op + "' to " + typeName(a) + " and " + typeName(b));
        }
        if (a instanceof Long p && b instanceof Long q && !op.equals("/")) {
            if ((op.equals("%") || op.equals("//")) && q == 0) throw typeError(line, "division by zero");
            return switch (op) {
                case "+" -> p + q;
                case "-" -> p - q;
                case "*" -> p * q;
                case "//" -> Math.floorDiv(p, q);
                default -> Math.floorMod(p, q);
            };
        }
        double p = x.doubleValue(), q = y.doubleValue();
        if ((op.equals("/") || op.equals("//") || op.equals("%")) && q == 0) throw typeError(line, "division by zero");
        return switch (op) {
            case "+" -> p + q;
            case "-" -> p - q;
            case "*" -> p * q;
            case "/" -> p / q;
            case "//" -> Math.floor(p / q);
            default -> p - q * Math.floor(p / q);
        };
    }

    private static Object filter(String f, Object v, List<Object> args, int line) {
        return switch (f) {
            case "trim" -> str(v).strip();
            case "upper" -> str(v).toUpperCase();
            case "lower" -> str(v).toLowerCase();
            case "capitalize" -> capitalize(str(v));
            case "title" -> title(str(v));
            case "string", "safe" -> str(v);
            case "length", "count" -> v instanceof String s ? (long) s.length() : (long) iterate(v, line).size();
            case "first" -> iterate(v, line).stream().findFirst().orElse(UNDEFINED);
            case "last" -> {
                List<Object> l = iterate(v, line);
                yield l.isEmpty() ? UNDEFINED : l.getLast();
            }
            case "default", "d" -> v == UNDEFINED ? (args.isEmpty() ? "" : args.getFirst()) : v;
            case "join" -> {
                StringBuilder b = new StringBuilder();
                String sep = args.isEmpty() ? "" : str(args.getFirst());
                List<Object> l = iterate(v, line);
                for (int i = 0; i < l.size(); i++) b.append(i > 0 ? sep : "").append(str(l.get(i)));
                yield b.toString();
            }
            case "list" -> iterate(v, line);
            case "reverse" -> {
                if (v instanceof String s) yield new StringBuilder(s).reverse().toString();
                List<Object> l = iterate(v, line);
                Collections.reverse(l);
                yield l;
            }
            case "tojson" -> Json.toLine(v == UNDEFINED ? null : v);
            default -> throw new IllegalStateException(f);
        };
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : s.substring(0, 1).toUpperCase() + s.substring(1).toLowerCase();
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder();
        boolean start = true;
        for (char c : s.toCharArray()) {
            b.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
            start = !Character.isLetterOrDigit(c);
        }
        return b.toString();
    }

    private static Object method(String m, Object v, List<Object> args, int line) {
        if (v instanceof Map<?, ?> map) {
            return switch (m) {
                case "get" -> {
                    if (args.isEmpty()) throw typeError(line, "get() needs a key");
                    yield map.containsKey(args.getFirst()) ? map.get(args.getFirst()) : args.size() > 1 ? args.get(1) : null;
                }
                case "items" -> {
                    List<Object> out = new ArrayList<>();
                    map.forEach((k, x) -> out.add(new ArrayList<>(Arrays.asList(k, x))));
                    yield out;
                }
                case "keys" -> new ArrayList<Object>(map.keySet());
                case "values" -> new ArrayList<Object>(map.values());
                default -> throw typeError(line, "a mapping has no method " + m + "()");
            };
        }
        if (!(v instanceof String s)) throw typeError(line, typeName(v) + " has no method " + m + "()");
        String a = args.isEmpty() ? null : str(args.getFirst());
        return switch (m) {
            case "strip" -> a == null ? s.strip() : stripChars(stripChars(s, a, true), a, false);
            case "lstrip" -> a == null ? s.stripLeading() : stripChars(s, a, true);
            case "rstrip" -> a == null ? s.stripTrailing() : stripChars(s, a, false);
            case "upper" -> s.toUpperCase();
            case "lower" -> s.toLowerCase();
            case "title" -> title(s);
            case "capitalize" -> capitalize(s);
            case "startswith" -> a != null && s.startsWith(a);
            case "endswith" -> a != null && s.endsWith(a);
            case "split" -> {
                List<Object> out = new ArrayList<>();
                if (a == null) {
                    for (String part : s.strip().split("\\s+")) if (!part.isEmpty()) out.add(part);
                } else {
                    if (a.isEmpty()) throw typeError(line, "split() with an empty separator");
                    int from = 0;
                    for (int at; (at = s.indexOf(a, from)) >= 0; from = at + a.length()) out.add(s.substring(from, at));
                    out.add(s.substring(from));
                }
                yield out;
            }
            case "replace" -> {
                if (args.size() < 2) throw typeError(line, "replace() needs two arguments");
                String with = str(args.get(1));
                if (a.isEmpty()) throw typeError(line, "replace() of an empty string");
                long grown = (long) s.length() + (long) with.length() * (s.length() / a.length() + 1);
                if (grown > MAX_OUTPUT) throw typeError(line, "a string too long");
                yield s.replace(a, with);
            }
            default -> throw typeError(line, "a string has no method " + m + "()");
        };
    }

    private static String stripChars(String s, String chars, boolean left) {
        int a = 0, b = s.length();
        if (left) while (a < b && chars.indexOf(s.charAt(a)) >= 0) a++;
        else while (b > a && chars.indexOf(s.charAt(b - 1)) >= 0) b--;
        return s.substring(a, b);
    }

    /** The variables of a rendering: the messages and Hugging Face's usual names. */
    public static Map<String, Object> variables(List<Map<String, Object>> messages, boolean addGenerationPrompt,
                                                String bosToken, String eosToken) {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("messages", new ArrayList<Object>(messages));
        v.put("add_generation_prompt", addGenerationPrompt);
        v.put("bos_token", bosToken);
        v.put("eos_token", eosToken);
        return v;
    }
}
