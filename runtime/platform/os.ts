/** Which operating system this is: the flags every part of runtime/platform/ branches on. */
export const isWindows = process.platform === "win32";
export const isLinux = process.platform === "linux";
export const isMac = process.platform === "darwin";
