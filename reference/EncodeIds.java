import com.fasterxml.jackson.databind.ObjectMapper;
import io.lumenspark.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Encodes texts with Lumenspark's tokenizer for {@code check_tokenizer.mjs}. Reads TEXTS.jsonl (one JSON string per
 * line) and prints one JSON line per text: {@code {"text", "ids", "decoded"}}.
 *
 * <pre>java -cp 'target/classes:target/lib/*' reference/EncodeIds.java TOKENIZER_DIR TEXTS.jsonl</pre>
 */
public class EncodeIds {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: EncodeIds TOKENIZER_DIR TEXTS.jsonl");
            System.exit(2);
        }
        Tokenizer tokenizer = Tokenizer.fromPretrained(Path.of(args[0]));
        ObjectMapper json = new ObjectMapper();
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        try (BufferedReader in = Files.newBufferedReader(Path.of(args[1]), StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) continue;
                String text = json.readValue(line, String.class);
                int[] ids = tokenizer.encode(text);
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("text", text);
                row.put("ids", ids);
                row.put("decoded", tokenizer.decode(ids));
                out.println(json.writeValueAsString(row));
            }
        }
        out.flush();
    }
}
