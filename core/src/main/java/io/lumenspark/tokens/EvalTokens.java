package io.lumenspark.tokens;

import io.lumenspark.Home;
import io.lumenspark.LumensparkException;
import io.lumenspark.tokenizer.Tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The tokens {@code lumenspark eval} evaluates a model on, from whatever --data names. */
public final class EvalTokens {
    private EvalTokens() {
    }

    /**
     * Token ids of a .bin token file, the validation split of a prepared token folder, or of text files and folders
     * (documents separated by end-of-text). Text is read as {@code train} reads it ({@link TokenCorpus#prepare}:
     * folders in path order without hidden names, on every thread, with a progress bar for large corpora), whole
     * (no validation split), and its tokens are cached like train's.
     *
     * @param tok     the model's tokenizer
     * @param textTok what encodes the model's text (a masked LM's: {@code tok} without {@code <mask>} and
     *                {@code <pad>}); a prepared folder may have been made with either (see
     *                {@link TokenCorpus#openPrepared(Path, Tokenizer, Tokenizer)})
     */
    public static TokenFile open(Path data, Tokenizer tok, Tokenizer textTok) {
        if (!Files.exists(data)) throw new LumensparkException("no such file: " + data);
        if (TokenCorpus.isPrepared(data)) {
            TokenSplits splits = TokenCorpus.openPrepared(data, tok, textTok);
            splits.train().close();
            if (splits.val().length() == 0) {
                splits.val().close();
                throw new LumensparkException(data + " has no validation tokens (prepared with --val-fraction 0)");
            }
            return splits.val();
        }
        if (data.toString().endsWith(".bin")) return TokenFile.open(data, TokenDtype.forVocab(textTok.vocabSize()));
        TokenSplits splits = TokenCorpus.prepare(List.of(data), textTok, 0, Home.tokenCache());
        splits.val().close();
        return splits.train();
    }
}
