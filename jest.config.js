// All Jest projects at once (npx jest); `npm test` runs them through Nx instead.
const { getJestProjectsAsync } = require('@nx/jest');

module.exports = async () => ({ projects: await getJestProjectsAsync() });
