/**
 * File formats and file helpers shared by training and inference: atomic writes, the project's JSON mapper,
 * safetensors, the JSON-lines metrics log, the loss-curve PNG and the lock that keeps a folder to one writing
 * process. Whole files are replaced atomically (the
 * append-only metrics log instead drops a torn last line), so a killed run leaves no half-written file to trip on.
 * Problems with a file become one-line {@link io.lumenspark.LumensparkException}s naming it.
 */
package io.lumenspark.io;
