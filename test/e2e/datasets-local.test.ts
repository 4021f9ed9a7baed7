import { datasetSuite } from "./dataset-suite.ts";

datasetSuite("local host", async () => ({ connection: 'connect: "local"' }));
