package io.lumenspark;

import io.lumenspark.model.LanguageModel;
import io.lumenspark.model.ModelConfig;
import io.lumenspark.pretrained.LumensparkModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example, as printed there, compiles against this build and runs on a small model. */
class ReadmeExampleTest {
    @Test
    void theReadmeExampleCompilesAndRuns(@TempDir Path tmp) throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int start = readme.indexOf("```java\n");
        assertTrue(start >= 0, "README has a java block");
        String code = readme.substring(start + 8, readme.indexOf("```", start + 8));
        assertTrue(code.contains("public class Example"), "the first java block is the example");
        Path source = tmp.resolve("Example.java");
        Files.writeString(source, code);

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int rc = javac.run(null, null, errors, "-cp", classpath, "-d", tmp.toString(), source.toString());
        assertEquals(0, rc, "javac: " + errors.toString(StandardCharsets.UTF_8));

        Path model = tmp.resolve("model");
        LanguageModel lm = new LanguageModel(ModelConfig.preset("lumenspark").with(Map.of(
                "embed_dim", "32", "depth", "2", "heads", "4", "seq_length", "64", "k", "8", "rank", "8")));
        try (LumensparkModel m = new LumensparkModel(lm, null)) {
            lm.initialize(1);
            m.save(model);
        }
        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try (URLClassLoader loader = new URLClassLoader(new URL[]{tmp.toUri().toURL()}, getClass().getClassLoader())) {
            loader.loadClass("Example").getMethod("main", String[].class)
                    .invoke(null, (Object) new String[]{model.toString()});
        } finally {
            System.setOut(stdout);
        }
        String out = printed.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("[length]"), out);
        assertTrue(out.contains("positions x 50257 scores"), out);
        assertTrue(out.lines().count() >= 1 + 1 + 4 + 1, out); // result, stream, 4 batch texts, logits
    }
}
