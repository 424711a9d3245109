package io.lumenspark.tokens;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.InputFiles;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The tokens {@code lumenspark eval} evaluates a model on, from whatever --data names. */
public final class EvalTokens {
    private EvalTokens() {
    }

    /**
     * Token ids of a .bin token file, the validation split of a prepared token folder, or of text files (documents
     * separated by end-of-text).
     */
    public static TokenFile open(Path data, Tokenizer tok) {
        if (!Files.exists(data)) throw new LumensparkException("no such file: " + data);
        if (TokenCorpus.isPrepared(data)) {
            TokenSplits splits = TokenCorpus.openPrepared(data, tok);
            splits.train().close();
            if (splits.val().length() == 0) {
                splits.val().close();
                throw new LumensparkException(data + " has no validation tokens (prepared with --val-fraction 0)");
            }
            return splits.val();
        }
        if (data.toString().endsWith(".bin")) return TokenFile.open(data, TokenDtype.forVocab(tok.vocabSize()));
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(data)) {
            try (Stream<Path> s = Files.walk(data)) {
                s.filter(Files::isRegularFile).sorted().forEach(files::add);
            } catch (IOException e) {
                throw new LumensparkException("cannot list " + data + ": " + e.getMessage());
            }
        } else {
            files.add(data);
        }
        List<int[]> parts = new ArrayList<>();
        long total = 0;
        for (Path f : files) {
            int[] ids = tok.encode(InputFiles.readLenient(f, InputFiles.MAX_ARRAY_BYTES));
            if (ids.length == 0) continue;
            parts.add(ids);
            total += ids.length + 1;
        }
        if (total == 0) throw new LumensparkException(data + " has no text");
        int[] all = new int[Math.toIntExact(total)];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
            all[at++] = tok.eosId();
        }
        return TokenFile.of(all);
    }
}
