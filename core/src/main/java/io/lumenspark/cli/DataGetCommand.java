package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.corpus.CorpusCache;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code lumenspark data get NAME|URL|PATH}: prints the path of the ready text, fetching it first if needed. */
@Command(name = "get", mixinStandardHelpOptions = true,
        description = {"Fetch a corpus into the cache (LUMENSPARK_HOME, default ~/.cache/lumenspark) and print the"
                + " path of its text, a file or a folder, for --data.",
                "NAME is a corpus of `lumenspark data list` (size and SHA-256 pinned); URL an https link (archives"
                        + " are extracted); PATH a local file or folder (archives are extracted; a file identical"
                        + " to a listed corpus's download is taken as that corpus, for machines without network)."})
final class DataGetCommand implements Callable<Integer> {
    private static final Pattern SIZE = Pattern.compile("([0-9]{1,15}) ?([KMGT]?)(I?B)?");

    @Parameters(paramLabel = "NAME|URL|PATH", description = "What to fetch.")
    String what;

    @Option(names = "--sha256", paramLabel = "HEX", description = "The SHA-256 the URL's download or the file must have.")
    String sha256;

    @Option(names = "--force", description = "Fetch (or extract) again even if the cache has it.")
    boolean force;

    @Option(names = "--max-size", paramLabel = "SIZE", description = "Refuse a URL's download past this size: bytes,"
            + " or with K, M, G or T (powers of 1024) (default: 4G). Named corpora stop at their pinned sizes.")
    String maxSize;

    @Override
    public Integer call() {
        CorpusCache cache = maxSize == null ? CorpusCache.standard() : CorpusCache.standard(bytes(maxSize));
        Path text = cache.get(what, sha256, force);
        System.out.println(text);
        return 0;
    }

    /** {@code 512}, {@code 300M}, {@code 4G}, {@code 1TiB}, {@code 2 GB}... in bytes (K, M, G, T: powers of 1024). */
    static long bytes(String size) {
        Matcher m = SIZE.matcher(size.strip().toUpperCase(Locale.ROOT));
        if (!m.matches() || Long.parseLong(m.group(1)) == 0) {
            throw new LumensparkException("--max-size must be a positive size such as 500M or 8G, got '" + size
                    + "'");
        }
        int shift = switch (m.group(2)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            case "T" -> 40;
            default -> 0;
        };
        long n = Long.parseLong(m.group(1));
        if (n > Long.MAX_VALUE >> shift) {
            throw new LumensparkException("--max-size is too large: '" + size + "'");
        }
        return n << shift;
    }
}
