module.exports = require('../../tools/jest/preset')(__dirname, { testEnvironment: require('node:path').join(__dirname, 'test/ort-environment.js') });
