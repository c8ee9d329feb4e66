/** Kept in step with package.json by the build check in test/unit/version.test.ts. */
export const VERSION = '0.1.0';
