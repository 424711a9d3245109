package io.lumenspark.hub;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HubSettingsTest {
    @TempDir
    Path home;

    HubSettings of(Map<String, String> env) {
        return HubSettings.fromEnvironment(env, home);
    }

    @Test
    void defaultsAreThePublicHubAndHuggingFacesCache() {
        HubSettings s = of(Map.of());
        assertEquals("https://huggingface.co", s.endpoint());
        assertNull(s.token());
        assertFalse(s.offline());
        assertEquals(home.resolve(".cache/huggingface/hub"), s.cache());
    }

    @Test
    void theCacheFolderFollowsHuggingFaceHubsPrecedence() {
        assertEquals(Path.of("/x/huggingface/hub"), of(Map.of("XDG_CACHE_HOME", "/x")).cache());
        assertEquals(Path.of("/h/hub"), of(Map.of("XDG_CACHE_HOME", "/x", "HF_HOME", "/h")).cache());
        assertEquals(Path.of("/old"), of(Map.of("HF_HOME", "/h", "HUGGINGFACE_HUB_CACHE", "/old")).cache());
        assertEquals(Path.of("/new"), of(Map.of("HF_HOME", "/h", "HUGGINGFACE_HUB_CACHE", "/old",
                "HF_HUB_CACHE", "/new")).cache());
        assertEquals(home.resolve("hf/hub"), of(Map.of("HF_HOME", "~/hf")).cache(), "~ is the home folder");
        assertEquals(home.resolve(".cache/huggingface/hub"), of(Map.of("HF_HOME", "")).cache(), "empty is unset");
    }

    @Test
    void theEndpointLosesItsTrailingSlashes() {
        assertEquals("https://hf-mirror.example/base", of(Map.of("HF_ENDPOINT", "https://hf-mirror.example/base//"))
                .endpoint());
    }

    @Test
    void offlineIsOneOfPythonsTrueWords() {
        for (String yes : new String[]{"1", "true", "TRUE", "yes", "On"}) {
            assertTrue(of(Map.of("HF_HUB_OFFLINE", yes)).offline(), yes);
        }
        for (String no : new String[]{"0", "false", "no", "off", "2", ""}) {
            assertFalse(of(Map.of("HF_HUB_OFFLINE", no)).offline(), no);
        }
        assertTrue(of(Map.of("TRANSFORMERS_OFFLINE", "1")).offline());
        assertFalse(of(Map.of("HF_HUB_OFFLINE", "0", "TRANSFORMERS_OFFLINE", "1")).offline(),
                "HF_HUB_OFFLINE, when set, decides");
    }

    @Test
    void theTokenComesFromTheEnvironmentElseTheLoginFile() throws IOException {
        assertEquals("hf_a", of(Map.of("HF_TOKEN", " hf_a\n", "HUGGING_FACE_HUB_TOKEN", "hf_b")).token());
        assertEquals("hf_b", of(Map.of("HUGGING_FACE_HUB_TOKEN", "hf_b")).token());
        Files.createDirectories(home.resolve(".cache/huggingface"));
        Files.writeString(home.resolve(".cache/huggingface/token"), "hf_file\n");
        assertEquals("hf_file", of(Map.of()).token());
        assertEquals("hf_a", of(Map.of("HF_TOKEN", "hf_a")).token(), "the environment first");
        Files.writeString(home.resolve("elsewhere"), "hf_path\r\n");
        assertEquals("hf_path", of(Map.of("HF_TOKEN_PATH", home.resolve("elsewhere").toString())).token());
        Files.writeString(home.resolve(".cache/huggingface/token"), "  \n");
        assertNull(of(Map.of()).token(), "a blank token is none");
    }

    @Test
    void systemPropertiesOfTheSameNamesWinOverTheEnvironment() {
        Map<String, String> saved = new HashMap<>();
        for (String name : HubSettings.VARIABLES) {
            if (System.getProperty(name) != null) saved.put(name, System.getProperty(name));
        }
        try {
            for (String name : HubSettings.VARIABLES) System.clearProperty(name);
            System.setProperty("HF_ENDPOINT", "http://127.0.0.1:9/");
            System.setProperty("HF_TOKEN", "hf_property");
            System.setProperty("HF_HUB_OFFLINE", "yes");
            System.setProperty("HF_HUB_CACHE", home.resolve("props").toString());
            HubSettings s = HubSettings.fromEnvironment();
            assertEquals(new HubSettings("http://127.0.0.1:9", "hf_property", true, home.resolve("props")), s);
            System.setProperty("HF_HUB_OFFLINE", "0");
            System.setProperty("HF_HUB_CACHE", ""); // empty is unset, whatever the environment holds
            System.setProperty("HUGGINGFACE_HUB_CACHE", "");
            System.setProperty("HF_HOME", home.resolve("hf").toString());
            assertFalse(HubSettings.fromEnvironment().offline());
            assertEquals(home.resolve("hf/hub"), HubSettings.fromEnvironment().cache());
        } finally {
            for (String name : HubSettings.VARIABLES) System.clearProperty(name);
            saved.forEach(System::setProperty);
        }
    }

    @Test
    void toStringNeverShowsTheToken() {
        String text = of(Map.of("HF_TOKEN", "hf_secret")).toString();
        assertFalse(text.contains("hf_secret"), text);
        assertTrue(text.contains("token=set"), text);
    }
}
