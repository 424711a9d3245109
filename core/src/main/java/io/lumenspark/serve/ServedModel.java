package io.lumenspark.serve;

import com.fasterxml.jackson.databind.JsonNode;
import io.lumenspark.LumensparkException;
import io.lumenspark.engine.WeightDtype;
import io.lumenspark.io.Json;
import io.lumenspark.model.Decoder;
import io.lumenspark.pretrained.LumensparkModel;
import io.lumenspark.pretrained.ModelFolder;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model the server serves under a name: the folder's model, its chat template (tokenizer_config.json's
 * {@code chat_template}, else {@link ChatTemplate#DEFAULT}) with its bos and eos tokens, and its scheduler.
 *
 * @param ownTemplate whether the chat template is the folder's own
 */
record ServedModel(String name, Path dir, LumensparkModel model, ChatTemplate template, boolean ownTemplate,
                   String bosToken, String eosToken, Scheduler scheduler) implements AutoCloseable {
    /** Decoding steps run before the server says ready (fewer where the context is shorter). */
    static final int WARM_UP_STEPS = 32;

    /**
     * Opens a folder for serving, its matrix weights held in dtype (null: the folder's own).
     *
     * @throws LumensparkException for a folder that does not load, a bidirectional model (it has no incremental
     *                             decoding to batch), or a chat template outside the supported subset
     */
    static ServedModel load(String name, Path dir, WeightDtype dtype, int maxBatch, int maxQueue, Metrics metrics) {
        LumensparkModel model = LumensparkModel.fromPretrained(dir, dtype);
        try {
            if (!model.config().causal()) {
                throw new LumensparkException(dir + ": this model is bidirectional (causal=false) and cannot be"
                        + " served: serving decodes one position at a time");
            }
            String eos = model.tokenizer().eosToken(), bos = eos, source = null;
            Path cfg = dir.resolve(ModelFolder.TOKENIZER);
            if (Files.exists(cfg)) {
                JsonNode n = Json.read(cfg);
                source = template(n.get("chat_template"), cfg);
                bos = token(n.get("bos_token"), bos);
                eos = token(n.get("eos_token"), eos);
            }
            ChatTemplate template;
            try {
                template = ChatTemplate.parse(source != null ? source : ChatTemplate.DEFAULT);
            } catch (LumensparkException e) {
                throw new LumensparkException(cfg + ": " + e.getMessage());
            }
            model.languageModel().useIntegerProducts(true); // batched steps: int8 output layers in integers
            // decoding steps before the server says ready: the decoding copies of the weights are made and the
            // kernels compiled now, not during the first requests (with the int8 output layer in integers, the
            // blocks' int8 kernels took about 25 steps of 20-35 ms to be compiled, against 1 ms after)
            try (Decoder warmUp = model.languageModel().decoder()) {
                for (int i = 0; i < Math.min(WARM_UP_STEPS, model.config().seqLength()); i++) warmUp.next(0);
            }
            Scheduler scheduler = new Scheduler(name, model, maxBatch, maxQueue, metrics);
            return new ServedModel(name, dir, model, template, source != null, bos, eos, scheduler);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The template's text: a string, or Hugging Face's list of named templates (the "default" one). */
    private static String template(JsonNode v, Path file) {
        if (v == null || v.isNull()) return null;
        if (v.isTextual()) return v.textValue();
        if (v.isArray()) {
            for (JsonNode t : v) {
                if ("default".equals(t.path("name").asText()) && t.path("template").isTextual()) {
                    return t.path("template").textValue();
                }
            }
            throw new LumensparkException(file + ": chat_template lists no template named \"default\"");
        }
        throw new LumensparkException(file + ": chat_template must be a string, got " + v.getNodeType());
    }

    /** A special token as tokenizer_config.json gives it: a string or {"content": ...}. */
    private static String token(JsonNode v, String otherwise) {
        if (v == null || v.isNull()) return otherwise;
        if (v.isTextual()) return v.textValue();
        if (v.path("content").isTextual()) return v.path("content").textValue();
        return otherwise;
    }

    @Override
    public void close() {
        scheduler.close();
        model.close();
    }
}
