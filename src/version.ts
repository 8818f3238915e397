/** tilecraft's version, recorded with every tuning result (a test keeps it equal to package.json's). */
export const VERSION = '0.1.0';
