/**
 * Serving models over HTTP with OpenAI's API ({@link io.lumenspark.serve.Server}, {@code lumenspark serve}):
 * completions and chat completions, streamed or whole, over a continuous batching scheduler per model (one
 * thread runs decoding steps over every active sequence, {@link io.lumenspark.model.DecodeBatch}); chat templates
 * (a safe subset of Jinja, {@link io.lumenspark.serve.ChatTemplate}); Prometheus metrics; and a playground page.
 */
package io.lumenspark.serve;
