import { hostname } from "node:os";

export const hello = () => `hello from tsdask-example-hello 0.3.0 in pid ${process.pid} on ${hostname()}`;
