export * from './material.js';
export * from './stats.js';
export * from './endpoint.js';
export * from './accepted-socket.js';
