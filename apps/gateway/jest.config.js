module.exports = require('../../tools/jest/preset')(__dirname, { coverageAlso: ['libs/gpu-lease'] });
