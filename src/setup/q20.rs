//! Setup of question 20 (tasks, models, measurements used only by its experiment).
