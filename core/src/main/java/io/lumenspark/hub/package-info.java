/**
 * Published models by name: a Hugging Face Hub id ({@code owner/name}, optionally {@code @revision}) wherever a
 * model folder is accepted, resolved by {@link io.lumenspark.hub.Hub} into a folder of the hub cache. The cache is
 * huggingface_hub's own, in its layout, so a model downloaded with Python is found here without a download and one
 * downloaded here is found by Python:
 * <pre>
 * $HF_HUB_CACHE (default ~/.cache/huggingface/hub; see {@link io.lumenspark.hub.HubSettings})
 *   models--owner--name/
 *     blobs/
 *       4f2e...(64 hex)         an LFS file (weights), named by its SHA-256 (the hub's X-Linked-Etag)
 *       8b1a...(40 hex)         a small file (config.json, tokenizer files), named by its git blob SHA-1 (ETag)
 *     refs/
 *       main                    the commit hash the branch was at, 40 hex, no newline
 *       refs/pr/1               (a revision with slashes is a path under refs/)
 *     snapshots/
 *       COMMIT/
 *         config.json           -&gt; ../../blobs/8b1a...   (relative symlinks, so the cache can move)
 *         model.safetensors     -&gt; ../../blobs/4f2e...
 *     .no_exist/
 *       COMMIT/
 *         added_tokens.json     an empty file: the repository has no such file at that commit
 *   .locks/models--owner--name/lumenspark.lock   held while this repository's folder is being changed
 * </pre>
 * A blob arrives as {@code blobs/NAME.part} (resumed by a later run when cut off) and is renamed into place after
 * its checks; a snapshot's link is made after its blob is in place, and {@code refs/REVISION} is written after the
 * whole snapshot is, so every name in the cache points at something complete.
 */
package io.lumenspark.hub;
