package io.lumenspark.training;

/**
 * One record of a classification data set: its text, its label as written (a class name; several separated by the
 * multi-label separator; or a number for regression), and where it was (the line of its file, for messages).
 */
public record LabeledText(String text, String label, String source) {
}
