/**
 * Studies that train grids of models through the public training API and report them as tables and charts:
 * {@link io.lumenspark.study.ConvLinformerStudy}, the Conv-Linformer study (Transformer, Linformer and
 * Conv-Linformer as masked language models over sequence lengths and learning rates), each cell an ordinary
 * resumable run in its own folder.
 */
package io.lumenspark.study;
