package io.lumenspark.cli;

import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code --set key=value}: config keys changed from a preset. */
final class OverrideOptions {
    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key, e.g. --set embed_dim=256 (repeatable).")
    Map<String, String> overrides = new LinkedHashMap<>();
}
