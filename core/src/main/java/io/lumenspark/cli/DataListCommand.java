package io.lumenspark.cli;

import io.lumenspark.Home;
import io.lumenspark.corpus.Corpora;
import io.lumenspark.corpus.Corpus;
import io.lumenspark.corpus.CorpusCache;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code lumenspark data list}: the named corpora, and where the cache holds them. */
@Command(name = "list", mixinStandardHelpOptions = true,
        description = "List the named corpora of `data get`, with the path of each one the cache holds.")
final class DataListCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        CorpusCache cache = CorpusCache.standard();
        for (Corpus c : Corpora.ALL) {
            System.out.printf("%-17s %s%n", c.name(), c.description());
            System.out.printf("%-17s download %,d bytes, sha256 %s%n", "", c.size(), c.sha256());
            System.out.printf("%-17s source   %s%n", "", c.source());
            System.out.printf("%-17s license  %s%n", "", c.license());
            System.out.printf("%-17s cached   %s%n", "", cache.cached(c).map(Object::toString)
                    .orElse("no (" + Home.command() + " data get " + c.name() + ")"));
        }
        return 0;
    }
}
