package io.lumenspark.cli;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.FileAppender;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.layout.PatternLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Spark's own log during a run of the command line that Lumenspark started itself ({@code ./lumenspark spark}, not
 * spark-submit): written to a temporary file instead of stderr, so that stderr holds Lumenspark's own lines only (a
 * task that failed on bad input makes Spark log its stack trace several times before the one {@code error:} line).
 * Under spark-submit the cluster's logging applies, as for any Spark application.
 */
final class SparkLog {
    private static final String APPENDER = "lumenspark-spark-log";
    /** The file of the run in progress, null when none. */
    private static Path file;
    private static List<Appender> diverted = List.of();

    private SparkLog() {
    }

    /** Whether this JVM was started by spark-submit or a cluster manager (which set Spark's system properties). */
    private static boolean launchedBySpark() {
        return System.getProperty("SPARK_SUBMIT") != null || System.getProperty("spark.master") != null;
    }

    /**
     * Sends the root logger's output to a new temporary file (made when the first line is logged) instead of its
     * appenders, unless Spark launched this JVM.
     */
    static synchronized void divert() {
        if (launchedBySpark() || file != null) return;
        Path log;
        try {
            log = Files.createTempFile("lumenspark-spark-", ".log");
            Files.delete(log); // a unique name; the appender makes the file with the first line logged
        } catch (IOException e) {
            return; // no temporary folder to write to: Spark logs on stderr as it would without us
        }
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        Configuration config = ctx.getConfiguration();
        FileAppender appender = FileAppender.newBuilder().setName(APPENDER).withFileName(log.toString())
                .withCreateOnDemand(true).setConfiguration(config)
                .setLayout(PatternLayout.newBuilder().withConfiguration(config)
                        .withPattern("%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex").build())
                .build();
        appender.start();
        LoggerConfig root = config.getRootLogger();
        diverted = new ArrayList<>(root.getAppenders().values());
        for (Appender a : diverted) root.removeAppender(a.getName());
        root.addAppender(appender, null, null);
        ctx.updateLoggers();
        file = log;
    }

    /** The file that Spark logs to in this run if it logged anything, else null. */
    static synchronized Path written() {
        return file != null && Files.exists(file) ? file : null;
    }

    /**
     * Gives the root logger its appenders back, and deletes the file unless {@code keep} (then it stays when
     * anything was logged).
     */
    static synchronized void restore(boolean keep) {
        if (file == null) return;
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        LoggerConfig root = ctx.getConfiguration().getRootLogger();
        Appender appender = root.getAppenders().get(APPENDER);
        root.removeAppender(APPENDER);
        for (Appender a : diverted) root.addAppender(a, null, null);
        ctx.updateLoggers();
        if (appender != null) appender.stop();
        try {
            if (!keep) Files.deleteIfExists(file);
        } catch (IOException e) {
            // a temporary file left behind
        } finally {
            file = null;
            diverted = List.of();
        }
    }
}
