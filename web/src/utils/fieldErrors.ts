import { ApiError } from '@/api/http'

/**
 * Field errors of a 409/422 answer keyed by their JSON path (`username`, `roles[1].scope_id`),
 * so a form can show each next to its input. Several messages for one field are joined.
 */
export function fieldErrorMap(err: unknown): Record<string, string> {
  const map: Record<string, string> = {}
  if (!(err instanceof ApiError)) return map
  for (const f of err.fields) {
    const key = normaliseFieldPath(f.field)
    const message = f.message || err.message
    map[key] = map[key] ? `${map[key]}; ${message}` : message
  }
  return map
}

/** `roles.1.scope_id`, `/roles/1/scope_id` and `roles[1].scope_id` all become `roles[1].scope_id`. */
export function normaliseFieldPath(path: string): string {
  return path
    .replace(/^\//, '')
    .replace(/\//g, '.')
    .replace(/\.(\d+)(?=\.|$)/g, '[$1]')
}

/**
 * The error to show beside the scope of role row `index`. The contract names the field
 * `roles[i].scope_id`; some answers may say `region_id` instead, so both are read.
 */
export function roleRowError(map: Record<string, string>, index: number, part: 'role' | 'scope'): string | undefined {
  if (part === 'role') return map[`roles[${index}].role`]
  return map[`roles[${index}].scope_id`] ?? map[`roles[${index}].region_id`] ?? map[`roles[${index}]`]
}

/** Errors whose field no input shows, to be listed above the form. */
export function unplacedErrors(map: Record<string, string>, placed: (field: string) => boolean): string[] {
  return Object.entries(map)
    .filter(([field]) => !placed(field))
    .map(([field, message]) => `${field}: ${message}`)
}
