package io.lumenspark;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A closed set of values (an enum) each written as its name in lowercase in files and on command lines, e.g. an
 * attention kind "conv_linformer" or a finish reason "eos". The enum is the one place where values and labels
 * meet: {@link #label()} (and the enum's {@code toString()}) gives the label, {@link #find} the value.
 */
public interface Labeled {
    /** How the value is written in JSON files and on the command line: its name in lowercase. */
    default String label() {
        return ((Enum<?>) this).name().toLowerCase(Locale.ROOT);
    }

    /** The value of type whose label is exactly label, if there is one. */
    static <E extends Enum<E> & Labeled> Optional<E> find(Class<E> type, String label) {
        return Arrays.stream(type.getEnumConstants()).filter(e -> e.label().equals(label)).findFirst();
    }

    /** The labels of type for messages: "a or b", "a, b or c". */
    static <E extends Enum<E> & Labeled> String alternatives(Class<E> type) {
        List<String> labels = Arrays.stream(type.getEnumConstants()).map(Labeled::label).toList();
        if (labels.size() == 1) return labels.getFirst();
        return String.join(", ", labels.subList(0, labels.size() - 1)) + " or " + labels.getLast();
    }

    /**
     * The value of type with this label.
     *
     * @param name what the value is for, to begin the message ("top_p", "--truncate")
     * @throws LumensparkException "NAME must be A or B, got 'LABEL'" when no value has the label
     */
    static <E extends Enum<E> & Labeled> E parse(Class<E> type, String label, String name) {
        return find(type, label).orElseThrow(() -> new LumensparkException(name + " must be "
                + alternatives(type) + ", got '" + label + "'"));
    }
}
