package io.lumenspark.tokenizer;

import io.lumenspark.LumensparkException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTest {

    private final Tokenizer tok = Tokenizer.byName("gpt2");

    @Test
    void describesGpt2() {
        assertEquals("gpt2", tok.name());
        assertEquals(50257, tok.vocabSize());
        assertEquals(50256, tok.eosId());
        assertSame(tok, Tokenizer.byName("r50k_base"));
        assertSame(tok, Tokenizer.byName(" GPT2 "));
    }

    @Test
    void encodesKnownIds() {
        // Reference ids from OpenAI's tiktoken r50k_base.
        assertArrayEquals(new int[] {15496, 11, 995, 0}, tok.encode("Hello, world!"));
        assertArrayEquals(new int[] {15496, 198, 198, 10603}, tok.encode("Hello\n\nWorld"));
        assertArrayEquals(new int[0], tok.encode(""));
    }

    @Test
    void roundTripsText() {
        for (String s : List.of("Hello, world!", "  leading and trailing  \n",
                "naïve café — “quotes” 日本語 🤖🎉",
                "First Citizen:\nBefore we proceed any further, hear me speak.\n\n")) {
            assertEquals(s, tok.decode(tok.encode(s)), s);
        }
    }

    @Test
    void mapsSpecialTokenInText() {
        int[] ids = tok.encode("a<|endoftext|>b<|endoftext|><|endoftext|>");
        assertArrayEquals(new int[] {64, 50256, 65, 50256, 50256}, ids);
        assertEquals("a<|endoftext|>b<|endoftext|><|endoftext|>", tok.decode(ids));
        assertArrayEquals(new int[] {50256}, tok.encode(Tokenizer.EOS_TEXT));
        // Only the exact marker is special.
        assertTrue(tok.encode("<|endoftext|").length > 1);
    }

    @Test
    void decodeBytesStreamsPartialCharacters() {
        int[] ids = tok.encode("🤖"); // one emoji, several byte-level tokens
        assertTrue(ids.length > 1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(tok.decodeBytes(new int[] {id}));
        }
        assertEquals("🤖", out.toString(StandardCharsets.UTF_8));
        byte[] first = tok.decodeBytes(new int[] {ids[0]});
        assertTrue(first.length < 4, "first token holds only part of the character");
    }

    @Test
    void rejectsBadInput() {
        var unknown = assertThrows(LumensparkException.class, () -> Tokenizer.byName("bert"));
        assertTrue(unknown.getMessage().contains("unknown tokenizer 'bert'"), unknown.getMessage());
        var range = assertThrows(LumensparkException.class, () -> tok.decode(new int[] {1, 50257}));
        assertTrue(range.getMessage().contains("50257"), range.getMessage());
        assertThrows(LumensparkException.class, () -> tok.decodeBytes(new int[] {-1}));
    }

    @Test
    void sharedInstanceIsThreadSafe() {
        String text = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n";
        int[] expected = tok.encode(text);
        boolean allEqual = IntStream.range(0, 2000).parallel()
                .allMatch(i -> Arrays.equals(expected, tok.encode(text)) && tok.decode(expected).equals(text));
        assertTrue(allEqual);
    }
}
