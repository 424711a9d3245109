package io.lumenspark.hub;

import io.lumenspark.LumensparkException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Where the hub is, who we are to it, and where its cache lives: the environment variables of Python's
 * huggingface_hub, read with its precedence, so that both share one cache and one login.
 * <ul>
 *     <li>endpoint: {@code HF_ENDPOINT}, else {@code https://huggingface.co} (trailing slashes dropped);</li>
 *     <li>token: {@code HF_TOKEN}, else {@code HUGGING_FACE_HUB_TOKEN}, else the file {@code HF_TOKEN_PATH}
 *     ({@code $HF_HOME/token}, where {@code hf auth login} saves it); line breaks and surrounding blanks removed,
 *     empty meaning none;</li>
 *     <li>offline: {@code HF_HUB_OFFLINE}, else {@code TRANSFORMERS_OFFLINE}, is {@code 1}, {@code ON},
 *     {@code YES} or {@code TRUE} (any case);</li>
 *     <li>cache: {@code HF_HUB_CACHE}, else {@code HUGGINGFACE_HUB_CACHE}, else {@code $HF_HOME/hub}, where
 *     {@code HF_HOME} defaults to {@code $XDG_CACHE_HOME/huggingface}, and that to
 *     {@code ~/.cache/huggingface}. A leading {@code ~} is the user's home, as Python's expanduser has it.</li>
 * </ul>
 * Each variable can also be given as a Java system property of the same name ({@code -DHF_HUB_OFFLINE=1}), which
 * wins over the environment: so code that embeds Lumenspark (and the tests) can set them without changing the
 * process's environment.
 *
 * @param endpoint the hub's base URL, without a trailing slash
 * @param token    the access token sent to the endpoint, or null for none
 * @param offline  whether to use the cache only, never the network
 * @param cache    the hub cache folder (holding {@code models--owner--name} folders)
 */
public record HubSettings(String endpoint, String token, boolean offline, Path cache) {
    /** The public hub. */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";
    private static final Set<String> TRUE = Set.of("1", "ON", "YES", "TRUE");

    /** The variables read, in the order of the list above. */
    static final List<String> VARIABLES = List.of("HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH",
            "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
            "XDG_CACHE_HOME");

    /** The settings of this process's environment, with system properties of the same names on top. */
    public static HubSettings fromEnvironment() {
        Map<String, String> env = new HashMap<>(System.getenv());
        for (String name : VARIABLES) {
            String property = System.getProperty(name);
            if (property != null) env.put(name, property);
        }
        return fromEnvironment(env, Path.of(System.getProperty("user.home")));
    }

    /**
     * The settings that the variables {@code env} give, for a user whose home folder is {@code home}.
     *
     * @throws LumensparkException if the token file exists but cannot be read
     */
    public static HubSettings fromEnvironment(Map<String, String> env, Path home) {
        String endpoint = first(env, "HF_ENDPOINT");
        endpoint = endpoint == null ? DEFAULT_ENDPOINT : endpoint.replaceAll("/+$", "");
        String offline = first(env, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE");
        Path hfHome = path(first(env, "HF_HOME"), home);
        if (hfHome == null) {
            Path xdg = path(first(env, "XDG_CACHE_HOME"), home);
            hfHome = (xdg != null ? xdg : home.resolve(".cache")).resolve("huggingface");
        }
        Path cache = path(first(env, "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"), home);
        String token = clean(first(env, "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"));
        if (token == null) {
            Path tokenPath = path(first(env, "HF_TOKEN_PATH"), home);
            token = readToken(tokenPath != null ? tokenPath : hfHome.resolve("token"));
        }
        return new HubSettings(endpoint, token, offline != null && TRUE.contains(offline.toUpperCase(Locale.ROOT)),
                cache != null ? cache : hfHome.resolve("hub"));
    }

    /** The first of {@code names} that is set and not empty, as Python's {@code os.getenv(a) or os.getenv(b)}. */
    private static String first(Map<String, String> env, String... names) {
        for (String name : names) {
            String value = env.get(name);
            if (value != null && !value.isEmpty()) return value;
        }
        return null;
    }

    private static Path path(String value, Path home) {
        if (value == null) return null;
        if (value.equals("~")) return home;
        if (value.startsWith("~/")) return home.resolve(value.substring(2));
        return Path.of(value);
    }

    private static String clean(String token) {
        if (token == null) return null;
        String t = token.replace("\r", "").replace("\n", "").strip();
        return t.isEmpty() ? null : t;
    }

    private static String readToken(Path file) {
        try {
            return clean(Files.readString(file));
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new LumensparkException("cannot read the Hugging Face token file " + file + ": " + e.getMessage(), e);
        }
    }

    /** The settings, with the token left out. */
    @Override
    public String toString() {
        return "HubSettings[endpoint=" + endpoint + ", token=" + (token == null ? "none" : "set") + ", offline="
                + offline + ", cache=" + cache + "]";
    }
}
