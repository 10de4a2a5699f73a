import type { Request, RequestHandler } from 'express';
import type { FieldError } from './problem';
import { validationError } from './problem';

// Postgres cannot store a NUL character, and a lone UTF-16 surrogate has no UTF-8 form: either would fail
// a write after a workflow had started (a 500 for a run already under way, a cancel left pausing). Such
// strings are refused at the door, naming the field, before anything is started.

const UNSTORABLE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

const storable = (text: string) => !text.includes('\u0000') && text.isWellFormed();

/** Every field of a parsed JSON value (keys and string values) that Postgres could not store. */
export function unstorableFields(value: unknown, at: string[] = []): string[] {
  if (typeof value === 'string') return storable(value) ? [] : [at.join('.')];
  if (Array.isArray(value)) return value.flatMap((item, i) => unstorableFields(item, [...at, String(i)]));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => (storable(key) ? unstorableFields(item, [...at, key]) : [[...at, key].join('.')]));
  }
  return [];
}

/** Headers whose values are stored with an execution. */
const STORED_HEADERS = ['Idempotency-Key', 'X-Correlation-Id', 'traceparent'];

/** 400 problem+json naming each field (body, `query.<name>`, `header <Name>`) holding an unstorable string. */
export const rejectUnstorableInput: RequestHandler = (req: Request, _res, next) => {
  const fields: FieldError[] = [
    ...unstorableFields(req.body).map((field) => ({ field: field || '(body)', message: UNSTORABLE })),
    ...unstorableFields(req.query).map((field) => ({ field: `query.${field}`, message: UNSTORABLE })),
    ...STORED_HEADERS.filter((name) => !storable(req.get(name) ?? '')).map((name) => ({ field: `header ${name}`, message: UNSTORABLE })),
  ];
  if (fields.length > 0) throw validationError(fields);
  next();
};
