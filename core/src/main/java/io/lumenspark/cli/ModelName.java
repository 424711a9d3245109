package io.lumenspark.cli;

import io.lumenspark.hub.Hub;

import java.nio.file.Path;

/**
 * A model named on the command line: a model folder, or a Hugging Face Hub id {@code owner/name[@revision]} (the
 * rule is {@code io.lumenspark.hub.ModelRef}'s: an existing local folder of that name wins). Every option of this
 * type takes both ({@link Main} registers the converter): {@code --model}, {@code train --init}. The name is resolved
 * when the command first asks for the folder, not while the command line is parsed, so {@code --help} and a
 * mistake in another option cost no download.
 */
final class ModelName {
    private final String text;
    private Path folder;

    ModelName(String text) {
        this.text = text;
    }

    /** The model folder: the local folder, or the hub model's snapshot folder in the cache, fetched once as needed. */
    Path folder() {
        if (folder == null) folder = Hub.modelFolder(text);
        return folder;
    }

    /** The model for people: the name as given, and for a hub model the cache folder it is in. */
    String describe() {
        Path dir = folder();
        return dir.toString().equals(text) ? text : text + " (" + dir + ")";
    }

    @Override
    public String toString() {
        return text;
    }
}
