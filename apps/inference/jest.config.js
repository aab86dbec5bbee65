module.exports = require('../../tools/jest/preset')(__dirname, {
  testEnvironment: require.resolve('../../tools/jest/ort-environment.js'),
});
