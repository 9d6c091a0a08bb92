import { FakeImageBuilder } from "../../agent/src/adapters/fake/fake-image-builder.js";
import { imageBuilderConformance } from "../conformance/image-builder-conformance.js";

const images = new Map([["podspawn/fake:test", new Map([["/bin/sh", Buffer.from("")]])]]);
const builder = new FakeImageBuilder(images);

imageBuilderConformance("FakeImageBuilder", () => ({ builder, base: "podspawn/fake:test", removeImage: async (tag) => void images.delete(tag) }));
