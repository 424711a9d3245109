package io.lumenspark;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernels' JIT flags live in one place, the parent pom's {@code lumenspark.kernel.flags}: the launcher reads
 * them from there (its own run with them is checked by hand: {@code bash -x ./lumenspark --version}), both
 * modules' tests take them, and the README's plain {@code java} command for the Java API prints the same list.
 * A JVM without them still computes the same numbers, only slower (boxed vectors), so nothing else would notice
 * a copy that drifted.
 */
class LauncherFlagsTest {
    private static final Pattern PROPERTY = Pattern.compile(
            "<lumenspark\\.kernel\\.flags>(.*)</lumenspark\\.kernel\\.flags>");

    /** The flags as the parent pom lists them, in order. */
    private static List<String> pomFlags() throws Exception {
        Matcher m = PROPERTY.matcher(Files.readString(Path.of("pom.xml")));
        assertTrue(m.find(), "pom.xml has lumenspark.kernel.flags");
        List<String> flags = Arrays.asList(m.group(1).trim().split("\\s+"));
        assertFalse(flags.isEmpty());
        flags.forEach(f -> assertTrue(f.startsWith("-XX:CompileCommand="), f));
        return flags;
    }

    @Test
    void theTestJvmRunsWithThePomsKernelFlags() throws Exception {
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        for (String flag : pomFlags()) assertTrue(args.contains(flag), flag + " missing from " + args);
    }

    @Test
    void theSparkModulesTestsTakeThem() throws Exception {
        Matcher m = Pattern.compile("<argLine>(.*)</argLine>").matcher(Files.readString(Path.of("spark/pom.xml")));
        assertTrue(m.find(), "spark/pom.xml sets the tests' argLine");
        assertTrue(m.group(1).contains("${lumenspark.kernel.flags}"), m.group(1));
    }

    @Test
    void theLauncherReadsTheFlagsFromThePom() throws Exception {
        String launcher = Files.readString(Path.of("lumenspark"));
        assertTrue(launcher.contains("<lumenspark.kernel.flags>"), "the launcher reads the pom's property");
        assertTrue(launcher.contains("$kernel_flags\""), "the launcher's JVM flags end with the kernel flags");
        assertFalse(launcher.contains("-XX:CompileCommand="), "no second copy of the flags in the launcher");
    }

    @Test
    void theReadmesJavaCommandListsTheSameFlags() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int at = readme.indexOf("java --add-modules jdk.incubator.vector");
        assertTrue(at >= 0, "the README's java command");
        String command = readme.substring(at, readme.indexOf("```", at));
        List<String> listed = new ArrayList<>();
        for (String word : command.split("\\s+")) if (word.startsWith("-XX:CompileCommand=")) listed.add(word);
        assertEquals(pomFlags(), listed);
    }
}
