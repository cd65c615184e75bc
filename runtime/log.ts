/**
 * Logging: one pino root logger per process, one child per actor (`{ actor: <pid> }`). JSON lines
 * by default; human-readable when stdout is a terminal (or `pretty` is asked for).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  name: string;
  level?: LevelWithSilent | string;
  /** Force pretty (true) or JSON (false); by default pretty only on a TTY. */
  pretty?: boolean;
  /** Write to stderr instead of stdout (commands that print results on stdout). */
  stderr?: boolean;
}

/** The process's root logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  const fd = opts.stderr ? 2 : 1;
  const pretty = opts.pretty ?? Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  if (pretty) {
    return pino({
      name: opts.name,
      level,
      transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ name: opts.name, level }, pino.destination({ dest: fd, sync: false }));
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
