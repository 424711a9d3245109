package io.lumenspark.generate;

/**
 * Log-probabilities around one chosen token, under the model's distribution (the softmax of its raw logits,
 * before any logits processor), as OpenAI's {@code logprobs} report them.
 *
 * @param logprob     the chosen token's natural log-probability
 * @param topIds      the most likely tokens, most likely first (lower ids first on ties)
 * @param topLogprobs their log-probabilities
 */
public record TokenLogprobs(double logprob, int[] topIds, double[] topLogprobs) {
}
