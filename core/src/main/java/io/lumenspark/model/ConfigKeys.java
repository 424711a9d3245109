package io.lumenspark.model;

import io.lumenspark.Words;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The keys a config.json may hold: ours ({@link ModelConfig#toMap()}) and the standard ones of Hugging Face's
 * {@code PretrainedConfig}, which any config saved by transformers carries. Anything else is most likely a typo
 * ("casual" for "causal"), which would otherwise silently leave the default in place.
 */
final class ConfigKeys {
    /**
     * The keys of Hugging Face transformers' {@code PretrainedConfig} (src/transformers/configuration_utils.py,
     * https://github.com/huggingface/transformers): the arguments of {@code PretrainedConfig.__init__} in v4.x
     * (v4.57's signature, output_hidden_states to decoder_start_token_id, with torch_dtype, which v4.56 renamed
     * dtype, and the older use_bfloat16 and tf_legacy_loss); the attributes it writes itself (model_type,
     * transformers_version, _name_or_path, _commit_hash, _attn_implementation_autoset, auto_map for custom code);
     * the attention implementation it reads (attn_implementation, _attn_implementation); the generation
     * parameters configs carried before generation_config.json ({@code _get_global_generation_defaults});
     * use_cache and gradient_checkpointing, which nearly every model's config sets; and quantization_config, where
     * quantized models record their quantization (ours: lumenspark quantize's).
     */
    static final Set<String> HUGGING_FACE = Set.of(
            "output_hidden_states", "output_attentions", "return_dict", "torchscript", "torch_dtype", "dtype",
            "use_bfloat16", "tf_legacy_loss", "pruned_heads", "tie_word_embeddings", "chunk_size_feed_forward",
            "is_encoder_decoder", "is_decoder", "cross_attention_hidden_size", "add_cross_attention",
            "tie_encoder_decoder", "architectures", "finetuning_task", "id2label", "label2id", "num_labels",
            "task_specific_params", "problem_type", "tokenizer_class", "prefix", "bos_token_id", "pad_token_id",
            "eos_token_id", "sep_token_id", "decoder_start_token_id",
            "model_type", "transformers_version", "_name_or_path", "name_or_path", "_commit_hash",
            "_attn_implementation_autoset", "auto_map", "attn_implementation", "_attn_implementation",
            "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
            "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
            "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
            "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
            "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
            "begin_suppress_tokens",
            "use_cache", "gradient_checkpointing", "quantization_config");

    private ConfigKeys() {
    }

    /**
     * One warning per key of a config file that is neither ours nor Hugging Face's, naming the nearest of ours:
     * {@code config.json: unknown key "casual" is ignored (nearest known key: "causal")}.
     */
    static List<String> unknownKeyWarnings(Collection<String> keys, String source) {
        Set<String> ours = new HashSet<>(ModelConfig.v01().toMap().keySet());
        ours.add("pooling"); // a sequence classifier's (the rest of its keys are Hugging Face's)
        ours.add(ModelConfig.LABEL_SEPARATOR); // a multi-label classifier's
        List<String> warnings = new ArrayList<>();
        for (String key : keys) {
            if (ours.contains(key) || HUGGING_FACE.contains(key)) continue;
            warnings.add(source + ": unknown key " + ModelConfig.shown(key) + " is ignored (nearest known key: "
                    + ModelConfig.shown(nearest(key, ours)) + ")");
        }
        return warnings;
    }

    /** The candidate closest to key in edit distance, ignoring case (ties: the first). */
    static String nearest(String key, Collection<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        String k = key.substring(0, Math.min(key.length(), 64)).toLowerCase(Locale.ROOT);
        for (String c : candidates) {
            int d = Words.distance(k, c);
            if (d < bestDistance) {
                best = c;
                bestDistance = d;
            }
        }
        return best;
    }
}
