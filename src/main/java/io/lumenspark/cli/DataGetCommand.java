package io.lumenspark.cli;

import io.lumenspark.data.CorpusCache;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code lumenspark data get NAME|URL|PATH}: prints the path of the ready text, fetching it first if needed. */
@Command(name = "get", mixinStandardHelpOptions = true,
        description = {"Fetch a corpus into the cache (LUMENSPARK_HOME, default ~/.cache/lumenspark) and print the"
                + " path of its text, a file or a folder, for --data.",
                "NAME is a corpus of `lumenspark data list` (size and SHA-256 pinned); URL an https link (archives"
                        + " are extracted); PATH a local file or folder (archives are extracted; a file identical"
                        + " to a listed corpus's download is taken as that corpus, for machines without network)."})
final class DataGetCommand implements Callable<Integer> {
    @Parameters(paramLabel = "NAME|URL|PATH", description = "What to fetch.")
    String what;

    @Option(names = "--sha256", paramLabel = "HEX", description = "The SHA-256 the URL's download or the file must have.")
    String sha256;

    @Option(names = "--force", description = "Fetch (or extract) again even if the cache has it.")
    boolean force;

    @Override
    public Integer call() {
        Path text = CorpusCache.standard().get(what, sha256, force);
        System.out.println(text);
        return 0;
    }
}
