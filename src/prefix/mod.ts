/** The prefix module: parameters, initialization, folding into keys/values. @module */
export {
  PARAM_NAMES,
  type ParamName,
  paramShapes,
  type PrefixFromParamsOptions,
  type PrefixInitOptions,
  PrefixModule,
  type PrefixOptions,
  type Reparam,
  REPARAMS,
} from "./prefix_module.ts";
