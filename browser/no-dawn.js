// What `#dawn` is in a browser bundle: pages have navigator.gpu, and the Dawn package for Node
// (`webgpu`, with its native addon) is never bundled into them.
export function create() {
  throw new Error("no WebGPU here: navigator.gpu is absent, and the Dawn package ('webgpu') is for Node, not browsers");
}
