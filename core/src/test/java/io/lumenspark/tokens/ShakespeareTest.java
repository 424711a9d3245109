package io.lumenspark.tokens;

import io.lumenspark.tokenizer.TextPieces;
import io.lumenspark.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Checks against the numbers nanoGPT reports for Tiny Shakespeare (skipped when the file is absent). */
public class ShakespeareTest {

    public static final Path FILE = Path.of("..", "shared", "data", "tinyshakespeare.txt");

    private static final Tokenizer TOK = Tokenizer.byName("gpt2");
    private static String text;
    private static int[] whole;

    @BeforeAll
    static void load() throws IOException {
        assumeTrue(Files.isRegularFile(FILE), "tinyshakespeare.txt not available");
        text = Files.readString(FILE, StandardCharsets.UTF_8);
        whole = TOK.encode(text);
    }

    @Test
    void encodesToKnownTokenCount() {
        assertEquals(1_115_394, text.length());
        assertEquals(338_025, whole.length);
    }

    @Test
    void chunkedEncodingEqualsWholeEncoding() {
        // Small pieces put thousands of cuts into the text, including after "\n\n" runs that must not be cut.
        for (int pieceChars : new int[] {64, 1000, 7919, TokenCorpus.PIECE_CHARS}) {
            assertArrayEquals(whole, TextPieces.encodeChunked(TOK, text, pieceChars), "pieces of " + pieceChars);
        }
    }

    @Test
    void splitsLikeNanoGpt(@TempDir Path cache) {
        try (TokenSplits s = TokenCorpus.prepare(List.of(FILE), TOK, 0.1, cache)) {
            assertFalse(s.reused());
            // nanoGPT: 301,966 train and 36,059 val tokens; each of our parts also ends with <|endoftext|>.
            assertEquals(301_966 + 1, s.train().length());
            assertEquals(36_059 + 1, s.val().length());
            assertEquals(TokenDtype.UINT16, s.train().dtype());

            int cut = (int) (text.length() * 0.9);
            int[] expectedTrain = TOK.encode(text.substring(0, cut));
            int[] train = new int[(int) s.train().length()];
            s.train().copy(0, train.length, train, 0);
            assertArrayEquals(expectedTrain, Arrays.copyOf(train, train.length - 1));
            assertEquals(TOK.eosId(), train[train.length - 1]);
            assertEquals(TOK.encode(text.substring(cut))[0], s.val().get(0));
            assertEquals(TOK.eosId(), s.val().get(s.val().length() - 1));
        }
    }
}
