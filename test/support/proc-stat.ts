import { readFileSync } from 'node:fs';

/**
 * The fields of a /proc/PID/stat (or /proc/PID/task/TID/stat) file after the command name, which
 * may itself contain spaces and parentheses: [0] is the state, field 3 of proc(5), so field N is
 * at N - 3 (ppid 1, utime 11, stime 12, nice 16).
 */
export function procStatFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
