/**
 * Tiny ONNX models written by hand: just enough of protobuf's wire format (varints and
 * length-delimited fields) to serialize a ModelProto with f32 inputs, outputs, initializers and
 * nodes without attributes. Field numbers are those of onnx.proto.
 */

/** Protobuf field writer: wire type 0 (varint) and 2 (length-delimited). */
class Pb {
  private readonly bytes: number[] = [];

  private varint(v: number | bigint): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n;
    do {
      const b = Number(x & 0x7fn);
      x >>= 7n;
      this.bytes.push(x > 0n ? b | 0x80 : b);
    } while (x > 0n);
  }

  int(field: number, v: number): this {
    this.varint((field << 3) | 0);
    this.varint(v);
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Pb): this {
    return this.raw(field, m.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export interface OnnxGraph {
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly outputs: Readonly<Record<string, readonly number[]>>;
  readonly initializers?: Readonly<Record<string, { readonly dims: readonly number[]; readonly data: Float32Array }>>;
  readonly nodes: readonly OnnxNode[];
  readonly opset?: number;
}

/** ValueInfoProto { name = 1, type = 2 }: a float tensor of a static shape. */
function valueInfo(name: string, dims: readonly number[]): Pb {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, new Pb().int(1, d)); // TensorShapeProto.dim { dim_value = 1 }
  const tensorType = new Pb().int(1, FLOAT).msg(2, shape); // TypeProto.Tensor { elem_type = 1, shape = 2 }
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensorType)); // TypeProto { tensor_type = 1 }
}

/** A model (ir_version 8, default domain at `opset`) as the bytes an InferenceSession loads. */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const graph = new Pb();
  g.nodes.forEach((n, i) => {
    const node = new Pb(); // NodeProto { input = 1, output = 2, name = 3, op_type = 4 }
    for (const x of n.inputs) node.str(1, x);
    for (const y of n.outputs) node.str(2, y);
    graph.msg(1, node.str(3, `${n.op.toLowerCase()}${i}`).str(4, n.op));
  });
  graph.str(2, 'graph');
  for (const [name, t] of Object.entries(g.initializers ?? {})) {
    const tensor = new Pb(); // TensorProto { dims = 1, data_type = 2, name = 8, raw_data = 9 }
    for (const d of t.dims) tensor.int(1, d);
    tensor.int(2, FLOAT).str(8, name).raw(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    graph.msg(5, tensor);
  }
  for (const [name, dims] of Object.entries(g.inputs)) graph.msg(11, valueInfo(name, dims));
  for (const [name, dims] of Object.entries(g.outputs)) graph.msg(12, valueInfo(name, dims));
  // ModelProto { ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { domain = 1, version = 2 } }
  return new Pb()
    .int(1, 8)
    .str(2, 'tilecraft-test')
    .msg(7, graph)
    .msg(8, new Pb().str(1, '').int(2, g.opset ?? 17))
    .finish();
}
