/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name → type (`counter`, `gauge`, `histogram`, `summary`, `untyped`). */
  types: Map<string, string>;
  samples: Sample[];
  /** Samples of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+-?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,\s*|$)/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', ''];

function parseValue(raw: string, line: string): number {
  if (raw === '+Inf' || raw === 'Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  const value = Number(raw);
  if (Number.isNaN(value)) throw new Error(`not a number in: ${line}`);
  return value;
}

/**
 * A strict parser of the Prometheus text format (version 0.0.4): every line is a comment, a HELP, a TYPE or a
 * well-formed sample of a family declared by TYPE; anything else throws, naming the line.
 */
export function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) {
        if (types.has(type[1]!)) throw new Error(`family declared twice: ${line}`);
        types.set(type[1]!, type[2]!);
      } else if (!/^# HELP \S+( .*)?$/.test(line) && /^# (HELP|TYPE)/.test(line)) {
        throw new Error(`malformed comment: ${line}`);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`malformed sample: ${line}`);
    const [, name, rawLabels = '', rawValue] = m;
    const labels: Record<string, string> = {};
    let rest = rawLabels.trim();
    while (rest.length > 0) {
      const l = LABEL.exec(rest);
      if (!l) throw new Error(`malformed labels: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    const family = SUFFIXES.map((s) => (s && name!.endsWith(s) ? name!.slice(0, -s.length) : s ? null : name!)).find((f) => f !== null && types.has(f));
    if (!family) throw new Error(`sample of no declared family: ${line}`);
    samples.push({ name: name!, labels, value: parseValue(rawValue!, line) });
  }
  return {
    types,
    samples,
    find: (name, labels = {}) => samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)),
  };
}
