/** Fills @KEY@ placeholders of the templates under packaging/; a placeholder without a value is an error. */
export function fill(template: string, values: Readonly<Record<string, string>>, name: string): string {
  return template.replace(/@([A-Z][A-Z_]*)@/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`${name}: no value for @${key}@`);
    return v;
  });
}
