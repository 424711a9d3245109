package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import io.lumenspark.io.InputFiles;
import io.lumenspark.serve.Server;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve model folders with OpenAI's HTTP API (completions, chat completions, models), a"
                + " playground page at /, /health and /metrics; continuous batching per model. SIGTERM or Ctrl-C"
                + " lets running requests finish (new ones get 503), then exits.")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    RuntimeOptions runtime;

    @Option(names = "--model", required = true, paramLabel = "[NAME=]DIR|ID",
            description = "A model folder or Hugging Face Hub id, served under NAME (default: the folder's name, or the"
                    + " id); repeat for several.")
    List<String> models;

    @Option(names = "--dtype", paramLabel = "f32|bf16|int8", description = "Weights of the matrix products as"
            + " float32, bfloat16 or int8 (a scale per 32 weights), converted on load (default: each folder's own).")
    String dtype;

    @Option(names = "--host", description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only).")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "Port (default: ${DEFAULT-VALUE}; 0: any free port).")
    int port = 8000;

    @Option(names = "--api-key", description = "Requests must send 'Authorization: Bearer KEY'.")
    String apiKey;

    @Option(names = "--api-key-file", description = "Read the API key from this file (its first line).")
    Path apiKeyFile;

    @Option(names = "--allow-origin", paramLabel = "ORIGIN", description = "A web origin (scheme://host[:port], or *"
            + " for any) whose pages may call the API from a browser (CORS); repeatable (default: none).")
    List<String> allowedOrigins = new ArrayList<>();

    @Option(names = "--max-batch", description = "Sequences decoded together at most, per model (default: ${DEFAULT-VALUE}).")
    int maxBatch = 32;

    @Option(names = "--max-queue", description = "Requests waiting to join the batch at most, per model; more get 429"
            + " (default: ${DEFAULT-VALUE}).")
    int maxQueue = 128;

    @Option(names = "--max-tokens-limit", description = "The largest max_tokens a request may ask (default: the"
            + " model's context).")
    Integer maxTokensLimit;

    @Option(names = "--max-body", hidden = true, description = "The largest request body in bytes.")
    long maxBody = Server.DEFAULT_MAX_BODY;

    /** The name a folder is served under without NAME=: its own name. */
    static String defaultName(Path dir) {
        Path fileName = dir.toAbsolutePath().normalize().getFileName();
        return fileName == null ? dir.toString() : fileName.toString();
    }

    @Override
    public Integer call() throws InterruptedException {
        runtime.apply();
        if (apiKey != null && apiKeyFile != null) throw new LumensparkException("give --api-key or --api-key-file, not both");
        String key = apiKey;
        if (apiKeyFile != null) {
            key = InputFiles.readLenient(apiKeyFile).lines().findFirst().orElse("").strip();
            if (key.isEmpty()) throw new LumensparkException(apiKeyFile + " holds no API key");
        }
        Map<String, Path> folders = new LinkedHashMap<>();
        for (String m : models) {
            int eq = m.indexOf('=');
            String given = eq < 0 ? m : m.substring(eq + 1);
            if (given.isEmpty()) {
                // as every path option says it (NAME= with nothing after it too)
                throw new ParameterException(spec.commandLine(), "--model is empty (an empty path would mean the"
                        + " current folder; did a $(...) fail?)");
            }
            Path dir = new ModelName(given).folder(); // a folder, or a hub id fetched into the cache
            String name = eq >= 0 ? m.substring(0, eq) : dir.toString().equals(given) ? defaultName(dir) : given;
            if (folders.put(name, dir) != null) {
                throw new LumensparkException("two models are named '" + name + "'; name them with --model NAME=DIR");
            }
        }
        Server server = Server.start(new Server.Options(host, port, key, maxBatch, maxQueue, maxTokensLimit, maxBody,
                folders, ModelOption.parseDtype(dtype), allowedOrigins));
        System.err.println("listening on " + server.url() + "; loading " + String.join(", ", folders.keySet()) + "...");
        try {
            server.load(System.err);
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        // SIGTERM and Ctrl-C: running requests finish, new ones get 503, then exit 0
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("draining: running requests finish, new ones get 503...");
            server.drain();
            System.err.println("stopped");
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(0);
        }, "lumenspark-drain"));
        String first = folders.keySet().iterator().next();
        System.err.println("ready: OpenAI API at " + server.url() + "/v1, playground at " + server.url() + "/");
        System.err.println("try: curl " + server.url() + "/v1/completions -H 'Content-Type: application/json'"
                + (key != null ? " -H \"Authorization: Bearer $KEY\"" : "")
                + " -d '{\"model\": \"" + first + "\", \"prompt\": \"The state of the Union\", \"max_tokens\": 20}'");
        Thread.currentThread().join();
        return 0;
    }
}
