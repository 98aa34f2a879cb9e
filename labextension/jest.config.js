/**
 * Unit tests of the pure parts (language, cell detection, sidebar model): ts-jest in
 * node, no browser and no JupyterLab. CodeMirror and Lezer ship CommonJS builds, so no
 * ESM transform is needed.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'tsx', 'js', 'json']
};
