// Unknown-field check for Kubernetes objects, from the schema packages' own TypeScript types.
//
// The kubernetes-models validators (JSON Schema, compiled) check types, enums, patterns and
// required fields, but accept any field they do not know, as the API server's schemas do. A
// misspelt field (`toplogySpreadConstraints`, `renewBfore`) would therefore pass them and be
// dropped silently by the API server. The same packages ship a TypeScript interface for every
// kind, with every field the schema declares; the TypeScript compiler (a devDependency) reads
// them, and every field of an object is looked up in its type, recursively.
import ts from 'typescript';
import { fileURLToPath } from 'node:url';

/** A kind's TypeScript interface: the module it is exported from and its name. */
export interface TypeRef {
  module: string;
  name: string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds one TypeScript program over the given interfaces (a virtual file that imports them) and
 * returns a function listing the fields of an object that its interface does not declare, as
 * JSON paths. Maps (labels, annotations, ConfigMap data) have an index signature: their keys are
 * free, their values are still checked.
 */
export function createFieldChecker(types: Record<string, TypeRef>): (key: string, object: unknown) => string[] {
  const keys = Object.keys(types);
  const virtualFile = `${ROOT}__k8s_field_types__.ts`;
  const source = keys.map((key, i) => `import type { ${types[key]!.name} as T${i} } from '${types[key]!.module}';\nexport type K${i} = T${i};`).join('\n');
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => (fileName === virtualFile ? ts.createSourceFile(fileName, source, languageVersion) : getSourceFile(fileName, languageVersion, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => fileName === virtualFile || fileExists(fileName);
  const program = ts.createProgram([virtualFile], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(virtualFile));
  if (diagnostics.length > 0) throw new Error(`cannot load the schema types: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(virtualFile)!;
  const typeOf = new Map<string, ts.Type>();
  ts.forEachChild(file, (node) => {
    if (ts.isTypeAliasDeclaration(node)) typeOf.set(keys[Number(node.name.text.slice(1))]!, checker.getTypeAtLocation(node));
  });

  const objectMembers = (type: ts.Type): ts.Type[] => (type.isUnion() ? type.types : [type]).filter((t) => (t.flags & ts.TypeFlags.Object) !== 0);

  function unknown(value: unknown, declared: ts.Type, path: string, out: string[]): void {
    const type = checker.getNonNullableType(declared);
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (Array.isArray(value)) {
      const element = objectMembers(type).map((t) => (checker.isArrayType(t) || checker.isTupleType(t) ? checker.getTypeArguments(t as ts.TypeReference)[0] : undefined)).find((t) => t !== undefined);
      if (element) value.forEach((item, i) => unknown(item, element, `${path}[${i}]`, out));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const members = objectMembers(type).filter((t) => !checker.isArrayType(t));
    if (members.length === 0) return;
    for (const [field, child] of Object.entries(value)) {
      const property = members.map((t) => checker.getPropertyOfType(t, field)).find((p) => p !== undefined);
      if (property) {
        unknown(child, checker.getTypeOfSymbol(property), `${path}.${field}`, out);
        continue;
      }
      const index = members.map((t) => checker.getIndexTypeOfType(t, ts.IndexKind.String)).find((t) => t !== undefined);
      if (index) unknown(child, index, `${path}.${field}`, out);
      else out.push(`${path}.${field}`);
    }
  }

  return (key, object) => {
    const type = typeOf.get(key);
    if (!type) throw new Error(`no type registered for ${key}`);
    const out: string[] = [];
    unknown(object, type, '', out);
    return out.map((p) => p.slice(1));
  };
}
