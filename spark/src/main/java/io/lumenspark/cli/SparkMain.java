package io.lumenspark.cli;

import io.lumenspark.LumensparkException;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * The Spark application's command line ({@code spark-submit --class io.lumenspark.cli.SparkMain
 * lumenspark-spark.jar train ...}, or {@code ./lumenspark spark train ...} in local mode): the same error handling
 * as {@code lumenspark} (one {@code error:} line, exit code 2 for bad input). It lives in the cli package of the
 * Spark module so that it shares the core command line's option groups.
 */
@Command(name = "lumenspark spark", mixinStandardHelpOptions = true, version = "lumenspark-spark 0.1.0",
        description = "Lumenspark on Apache Spark: DiLoCo training, data preparation and batch inference.",
        subcommands = {SparkTrainCommand.class, SparkPrepareCommand.class, SparkScoreCommand.class,
                SparkClassifyCommand.class, SparkGenerateCommand.class})
public final class SparkMain implements Runnable {
    /** The masters Spark takes: local ones (N threads, at least 1; F task attempts), and cluster managers' URLs. */
    private static final Pattern MASTER = Pattern.compile("local(\\[(\\*|[1-9][0-9]*)(,[1-9][0-9]*)?])?"
            + "|local-cluster\\[[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*]|yarn|[a-z][a-z0-9+.-]*://.+");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
    }

    /** The exit code of a command stopped by Ctrl-C or SIGTERM (the JVM's own status is the signal's). */
    static final int STOPPED = 130;

    /** Runs the command line and exits with its code (0 success, 1 runtime failure, 2 bad input). */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Runs the command line and returns the exit code. Spark's own log goes to a temporary file meanwhile (see
     * {@link SparkLog}): kept and named on stderr when a run that succeeded logged warnings, or when one failed
     * otherwise than on bad input (its error line names it); deleted after bad input (exit code 2), which the error
     * line explains, or a stop by Ctrl-C or SIGTERM, which the command's line reports ({@link StopSignal}).
     */
    public static int run(String... args) {
        SparkLog.divert();
        StopSignal.begin();
        int code = 1;
        try {
            code = Main.execute(new SparkMain(), args);
            Path log = SparkLog.written();
            if (code == 0 && log != null) System.err.println("Spark logged warnings: " + log);
            return code;
        } finally {
            SparkLog.restore(code != 2 && code != STOPPED);
            StopSignal.end();
        }
    }

    /**
     * The Spark session: spark-submit's master, else {@code master}, else {@code local[defaultLocal]}; the web UI
     * off unless configured (a local run needs no server).
     */
    static SparkSession session(String app, String master, int defaultLocal) {
        checkMaster(master);
        SparkConf conf = new SparkConf().setAppName("lumenspark " + app);
        if (master != null) conf.setMaster(master);
        else conf.setIfMissing("spark.master", "local[" + defaultLocal + "]");
        conf.setIfMissing("spark.ui.enabled", "false");
        SparkSession spark;
        try {
            spark = SparkSession.builder().config(conf).getOrCreate();
        } catch (RuntimeException | Error e) { // a master Spark cannot reach or start
            if (StopSignal.requested()) stoppedStarting(null); // Spark cannot start while the process ends
            if (e instanceof Error error) throw error;
            throw unwrap((RuntimeException) e);
        }
        if (StopSignal.requested()) stoppedStarting(spark);
        spark.sparkContext().setLogLevel("WARN");
        StopSignal.watch(spark.sparkContext());
        return spark;
    }

    /**
     * Ends a run stopped (Ctrl-C, SIGTERM) before its first job: the session stopped, the one line, Spark's log
     * deleted; then this thread waits for the process to end.
     */
    private static void stoppedStarting(SparkSession spark) {
        try {
            if (spark != null) spark.stop();
        } catch (RuntimeException e) {
            // the process ends anyway
        }
        StopSignal.report("stopped before Spark's first job; nothing was written");
        SparkLog.restore(false);
        StopSignal.end();
        System.exit(STOPPED); // blocks while the shutdown hooks run, which end the process
    }

    /**
     * Whether the command's jobs failed because the run is being stopped (Ctrl-C, SIGTERM, see {@link StopSignal}),
     * then to say so with {@link #stopped}.
     */
    static boolean stopping(SparkSession spark) {
        return StopSignal.stopping(spark.sparkContext());
    }

    /** Prints the one line of a stopped run (after the stop hook's own, if any) and returns {@link #STOPPED}. */
    static int stopped(String line) {
        StopSignal.report(line);
        return STOPPED;
    }

    /** Refuses a --master that Spark would fail on (null: none given). */
    static void checkMaster(String master) {
        if (master != null && !MASTER.matcher(master).matches()) {
            throw new LumensparkException("--master must be local, local[N], local[*], local[N,F], spark://HOST:PORT,"
                    + " yarn or k8s://URL (a cluster manager's URL), got '" + master + "'");
        }
    }

    /** The Java view of a session's context. */
    static JavaSparkContext context(SparkSession spark) {
        return JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    /**
     * A failure inside Spark (a task's exception, wrapped by the scheduler) as the Lumenspark error that caused it,
     * when one did: bad input found on an executor is still one {@code error:} line. Other failures keep the first
     * line of their message (Spark's holds the task's whole stack trace), and name Spark's log file when there is
     * one.
     */
    static RuntimeException unwrap(Exception e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof LumensparkException l) return l;
        }
        String m = String.valueOf(e.getMessage());
        int line = m.indexOf('\n');
        Path log = SparkLog.written();
        if (line < 0 && log == null && e instanceof RuntimeException r) return r;
        return new IllegalStateException((line < 0 ? m : m.substring(0, line))
                + (log == null ? "" : " (Spark's log: " + log + ")"), e);
    }
}
