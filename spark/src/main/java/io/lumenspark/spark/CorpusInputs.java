package io.lumenspark.spark;

import io.lumenspark.LumensparkException;
import io.lumenspark.tokens.TokenCorpus;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.fs.UnsupportedFileSystemException;
import org.apache.hadoop.util.VersionInfo;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The corpus files that {@code spark prepare} reads, from its inputs as paths or URLs. A path is listed as
 * {@code data prepare} lists it ({@link TokenCorpus#listFiles}); a URL is a Hadoop path, listed and globbed with
 * Hadoop's {@link FileSystem} for its scheme under the Spark context's Hadoop configuration. The matches of a
 * {@code file:} URL are then paths as any other; a folder of another file system (HDFS, S3 with hadoop-aws, ...)
 * is walked as {@code data prepare} walks one: its files recursively in path order, hidden names (starting with
 * '.') left out.
 */
public final class CorpusInputs {
    private static final Pattern URL = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*:/.*", Pattern.DOTALL);

    /** The connector to add for the object stores whose Hadoop file system is not in Spark's own jars. */
    private static final Map<String, String> CONNECTORS = Map.of("s3a", "hadoop-aws", "abfs", "hadoop-azure",
            "abfss", "hadoop-azure", "wasb", "hadoop-azure", "wasbs", "hadoop-azure");

    private CorpusInputs() {
    }

    /**
     * One corpus file: a path of the local file system (as {@code data prepare} would name it), or the URL of a file
     * on another file system, which a task copies to its own disk before reading it.
     */
    record CorpusFile(String location, boolean local) implements Serializable {
    }

    /** Whether {@code arg} is a URL ({@code scheme:/...}) rather than a path. */
    public static boolean isUrl(String arg) {
        return URL.matcher(arg).matches();
    }

    /**
     * The local path that {@code arg} names: a path as it is, a {@code file:} URL as the path it names (read as
     * Spark reads one: a Hadoop path, %-escapes not decoded), null for a URL of another scheme.
     *
     * @throws LumensparkException for a malformed URL
     */
    public static Path localOrNull(String arg) {
        if (!isUrl(arg)) return Path.of(arg);
        URI uri = hadoopPath(arg).toUri();
        return "file".equalsIgnoreCase(uri.getScheme()) ? Path.of(uri.getPath()) : null;
    }

    /** {@code url} as Spark takes a path: a Hadoop path, its characters as they are (no %-escapes decoded). */
    private static org.apache.hadoop.fs.Path hadoopPath(String url) {
        try {
            return new org.apache.hadoop.fs.Path(url);
        } catch (IllegalArgumentException e) {
            throw new LumensparkException("not a URL: " + url + " (" + e.getMessage() + ")");
        }
    }

    /**
     * A path, or a {@code file:} URL as the path it names.
     *
     * @param what the option, for the error (e.g. "--out")
     * @throws LumensparkException for a malformed URL or one of another scheme
     */
    public static Path localPath(String arg, String what) {
        Path path = localOrNull(arg);
        if (path == null) {
            throw new LumensparkException(what + " must be a folder of a file system every executor mounts (a path or"
                    + " file: URL), not " + arg);
        }
        return path;
    }

    /**
     * The files of {@code inputs} in the order their tokens are written: inputs as given, each a file, a folder
     * (walked recursively in path order without hidden names) or a URL's or a path's glob matches (in path order;
     * hidden names left out; a path that exists as it is written is not a glob), leaving out the local files in {@code skip} (the output folder).
     *
     * @throws LumensparkException for a missing input, a URL with no matches, a scheme without a Hadoop file system
     *                             on the class path, a file given twice, or a listing that fails
     */
    static List<CorpusFile> list(List<String> inputs, Configuration conf, Path skip) {
        if (inputs.isEmpty()) throw new LumensparkException("no corpus files given");
        Path outFolder = skip.toAbsolutePath().normalize();
        List<CorpusFile> files = new ArrayList<>();
        Map<String, String> seen = new HashMap<>();
        for (String in : inputs) {
            if (isUrl(in)) {
                listUrl(in, conf, outFolder, files, seen);
            } else if (hasGlob(in) && !Files.exists(Path.of(in))) { // a local glob, matched as a file: URL's
                listUrl("file:" + Path.of(in).toAbsolutePath(), conf, outFolder, files, seen);
            } else {
                addLocal(TokenCorpus.listFiles(List.of(Path.of(in))), outFolder, files, seen);
            }
        }
        return files;
    }

    private static void listUrl(String url, Configuration conf, Path outFolder, List<CorpusFile> files,
                                Map<String, String> seen) {
        org.apache.hadoop.fs.Path pattern = hadoopPath(url);
        FileSystem fs = fileSystem(pattern.toUri(), url, conf);
        try {
            FileStatus[] matches = fs.globStatus(pattern);
            if (matches == null || matches.length == 0) {
                throw new LumensparkException((hasGlob(url) ? "no files match " : "no such file: ") + url);
            }
            List<FileStatus> sorted = new ArrayList<>(List.of(matches));
            sorted.removeIf(s -> hasGlob(url) && s.getPath().getName().startsWith("."));
            sorted.sort(Comparator.comparing(CorpusInputs::pathOrder));
            if (sorted.isEmpty()) throw new LumensparkException("no files match " + url + " (only hidden names)");
            for (FileStatus match : sorted) {
                if (isLocal(fs)) {
                    addLocal(TokenCorpus.listFiles(List.of(Path.of(match.getPath().toUri()))), outFolder, files, seen);
                } else if (match.isDirectory()) {
                    List<FileStatus> walked = new ArrayList<>();
                    String root = match.getPath().toUri().getPath();
                    for (RemoteIterator<LocatedFileStatus> it = fs.listFiles(match.getPath(), true); it.hasNext(); ) {
                        LocatedFileStatus f = it.next();
                        if (!isHidden(root, f.getPath().toUri().getPath())) walked.add(f);
                    }
                    walked.sort(Comparator.comparing(CorpusInputs::pathOrder));
                    refuseTokenFolder(match.getPath(), walked);
                    for (FileStatus f : walked) addRemote(f.getPath().toString(), files, seen);
                } else if (match.isFile()) {
                    addRemote(match.getPath().toString(), files, seen);
                } else {
                    throw new LumensparkException("not a file or folder: " + match.getPath());
                }
            }
        } catch (IOException e) {
            throw new LumensparkException("cannot list " + url + ": " + firstLine(e.getMessage()), e);
        }
    }

    /** Refuses a folder that holds a prepared token folder's files at its top, as {@code data prepare} does. */
    private static void refuseTokenFolder(org.apache.hadoop.fs.Path folder, List<FileStatus> files) {
        List<String> top = files.stream().filter(f -> folder.equals(f.getPath().getParent()))
                .map(f -> f.getPath().getName()).toList();
        if (top.contains("manifest.json") && top.contains("train.bin")) {
            throw new LumensparkException(folder + " is a prepared token folder (it holds manifest.json and train.bin):"
                    + " it is not text to tokenize");
        }
    }

    /**
     * The Hadoop file system of {@code uri}'s scheme, or an error that names what to add to the class path.
     */
    static FileSystem fileSystem(URI uri, String url, Configuration conf) {
        try {
            return FileSystem.get(uri, conf);
        } catch (UnsupportedFileSystemException e) {
            throw noFileSystem(uri.getScheme(), url, e);
        } catch (RuntimeException e) { // a scheme configured (core-default.xml: s3a) whose class is missing
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof ClassNotFoundException) throw noFileSystem(uri.getScheme(), url, e);
            }
            throw e;
        } catch (IOException e) {
            throw new LumensparkException("cannot reach " + url + ": " + firstLine(e.getMessage()), e);
        }
    }

    private static LumensparkException noFileSystem(String scheme, String url, Exception cause) {
        String connector = CONNECTORS.get(scheme.toLowerCase(java.util.Locale.ROOT));
        String add = connector == null ? "add a jar that provides one (spark-submit --jars or --packages)"
                : "add " + connector + " of the Hadoop version Spark runs with, e.g. spark-submit --packages"
                + " org.apache.hadoop:" + connector + ":" + VersionInfo.getVersion();
        return new LumensparkException("no Hadoop file system for " + scheme + ": URLs on the class path (" + url
                + "); " + add, cause);
    }

    /** Copies the file at {@code url} to {@code target}, through Hadoop's file system for its scheme. */
    static void copy(String url, Configuration conf, Path target) {
        org.apache.hadoop.fs.Path path = hadoopPath(url);
        try (InputStream in = fileSystem(path.toUri(), url, conf).open(path)) {
            Files.createDirectories(target.getParent());
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new LumensparkException("cannot read " + url + ": " + firstLine(e.getMessage()), e);
        }
    }

    private static boolean isLocal(FileSystem fs) {
        return "file".equalsIgnoreCase(fs.getUri().getScheme());
    }

    private static boolean hasGlob(String url) {
        return url.chars().anyMatch(c -> "*?[{".indexOf(c) >= 0);
    }

    /** The order of {@code data prepare}'s listing: the order of the file system paths (on Unix, their bytes). */
    private static Path pathOrder(FileStatus s) {
        return Path.of(s.getPath().toUri().getPath());
    }

    private static boolean isHidden(String root, String file) {
        for (String part : file.substring(root.length()).split("/")) {
            if (part.startsWith(".")) return true;
        }
        return false;
    }

    private static void addLocal(List<Path> listed, Path outFolder, List<CorpusFile> files, Map<String, String> seen) {
        for (Path f : listed) {
            if (f.toAbsolutePath().normalize().startsWith(outFolder)) continue;
            String real;
            try {
                real = f.toRealPath().toString();
            } catch (IOException e) {
                throw new LumensparkException("cannot read " + f + ": " + e.getMessage(), e);
            }
            add(new CorpusFile(f.toString(), true), real, files, seen);
        }
    }

    private static void addRemote(String url, List<CorpusFile> files, Map<String, String> seen) {
        add(new CorpusFile(url, false), url, files, seen);
    }

    private static void add(CorpusFile file, String identity, List<CorpusFile> files, Map<String, String> seen) {
        String first = seen.putIfAbsent(identity, file.location());
        if (first != null) { // a file given twice, or a folder and a file in it: the same text twice
            throw new LumensparkException((first.equals(file.location()) ? first + " is given twice"
                    : first + " and " + file.location() + " are the same file") + "; give each file once");
        }
        files.add(file);
    }

    private static String firstLine(String message) {
        String m = String.valueOf(message);
        int line = m.indexOf('\n');
        return line < 0 ? m : m.substring(0, line);
    }
}
